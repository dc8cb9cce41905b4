"""Hidden checks of assignment a05 (instructors only; never released). See dimedia_course.grading.checks."""

import torch

from dimedia_course.grading.checks import Case, scalar_close, tensor_close

NOTEBOOK = "latent_diffusion.ipynb"

# Reference code a submission could call instead of answering: stubbed out in the sandboxed kernel.
BLOCKED = [
    "dimedia_course.latent:kl_divergence",
    "dimedia_course.latent:LatentDiffusion",
    "dimedia_course.losses:diffusion_loss",
    "dimedia_course.losses:training_target",
    "dimedia_course.forward:q_sample",
    "dimedia_course.sampling:sample",
    "dimedia_course.schedulers.ddim:DDIMScheduler",
    "dimedia_course.schedulers.ddpm:DDPMScheduler",
]

# The reference LatentDiffusion is built around the setup's autoencoder (same weights) and denoiser.
REFERENCE_IMPORTS = """
from dimedia_course import latent as ref_latent, losses as ref_losses
from dimedia_course.sampling import set_inference_timesteps
from dimedia_course.schedules import NoiseSchedule
from dimedia_course.schedulers import DDIMScheduler


def _latent_diffusion(ae, unet, latent_channels=2):
    with torch.random.fork_rng():
        ld = ref_latent.LatentDiffusion(image_size=16, latent_channels=latent_channels, ae_channels=(8, 16), unet=unet)
    ld.autoencoder.load_state_dict(ae.state_dict())
    ld.autoencoder.eval()
    return ld


def _ld_scheduler():
    # the default scheduler of LatentDiffusion (DDIM without clipping: latents are not in [-1, 1])
    return DDIMScheduler(num_train_timesteps=1000, clip_sample=False)


def _ld_timesteps(num_inference_steps):
    scheduler = _ld_scheduler()
    return torch.tensor(set_inference_timesteps(scheduler, num_inference_steps))


def _ld_sample(unet, ae, scale_factor, n, num_inference_steps, seed):
    ld = _latent_diffusion(ae, unet)
    ld.scale_factor = scale_factor
    return ld.sample(n, num_inference_steps=num_inference_steps, generator=torch.Generator().manual_seed(seed))
"""

# Measured errors of correct answers written otherwise (float64, log(sigma^2), the DDIM update as c1 z + c2 eps):
# KL <= 1.4e-7 relative (tolerance 1e-5), scale factor 0 (1e-4, as the notebook's hidden test: a biased std, off
# by 1 / (2N) = 6.5e-4, is rejected), loss <= 1.7e-7 relative (1e-5), samples <= 1e-6 absolute (2e-5 + 1e-4 |x|).
# Bugs: KL >= 0.19 relative, scale factor >= 0.1, loss >= 8e-5 (alphabar_{t-1}; the toy denoiser's weights are
# multiplied by 10 so that the loss depends on z_t), samples >= 1.5e-3 absolute.
CHECKS = {
    "test_kl_divergence": [
        Case(
            setup=(
                f"g = torch.Generator().manual_seed({seed})\n"
                f"z_mu = torch.randn({shape}, generator=g)\n"
                f"z_sigma = torch.rand({shape}, generator=g) * 1.5 + 0.1"
            ),
            student="kl_divergence(z_mu.clone(), z_sigma.clone())",
            reference="ref_latent.kl_divergence(z_mu, z_sigma)",
            compare=scalar_close(1e-5, 1e-6, kind=torch.Tensor),
            message=f"KL divergence of a batch of latents of shape {shape}, as a 0-d tensor",
        )
        for seed, shape in [(50, (4, 2, 8, 8)), (51, (2, 3, 4, 5)), (52, (1, 1, 3, 3))]
    ],
    "test_compute_scale_factor": [
        Case(
            setup=f"ae = make_autoencoder({seed}, latent_channels={lc})\nimages = toy_images({n}, seed={seed})",
            student="compute_scale_factor(ae, images.clone())",
            reference=f"_latent_diffusion(ae, torch.nn.Identity(), {lc}).compute_scale_factor(images)",
            compare=scalar_close(1e-4, 0.0, kind=float),
            message="scale factor of another batch through another autoencoder, as a Python float",
        )
        for seed, n, lc in [(1, 6, 2), (2, 6, 2), (3, 3, 4)]
    ],
    "test_latent_diffusion_loss": [
        Case(
            setup=(
                f"g = torch.Generator().manual_seed({seed})\n"
                f"ae, unet = make_autoencoder({seed}), ToyDenoiser(2, seed={seed})\n"
                f"images = toy_images(4, seed={seed})\n"
                "with torch.no_grad():\n"
                "    unet.conv.weight.mul_(10.0)  # a denoiser sensitive to its input\n"
                "t = torch.randint(0, 1000, (4,), generator=g)\n"
                "t[0], t[1] = 0, 999\n"
                "noise = torch.randn(4, 2, 8, 8, generator=g)"
            ),
            given={"ab": "NoiseSchedule.from_name('cosine', 1000).alphas_cumprod"},
            student=f"latent_diffusion_loss(unet, ae, images.clone(), {s}, t.clone(), noise.clone(), ab.clone())",
            reference=(
                f"ref_losses.diffusion_loss(unet, _latent_diffusion(ae, unet).encode(images) * {s}, ab, "
                "t=t, noise=noise)"
            ),
            compare=scalar_close(1e-5, 1e-7, kind=torch.Tensor),
            message="latent loss with a cosine schedule (t = 0 and T - 1 too), another scale factor, as a 0-d tensor",
        )
        for seed, s in [(3, 1.7), (4, 0.6)]
    ],
    "test_sample_latent_diffusion": [
        Case(
            setup=(
                f"ae, unet = make_autoencoder({seed}), ToyDenoiser(2, seed={seed})\n"
                f"gen = torch.Generator().manual_seed({seed})"
            ),
            given={"ts": f"_ld_timesteps({steps})", "ab": "_ld_scheduler().alphas_cumprod"},
            student=f"sample_latent_diffusion(unet, ae, {s}, 3, (2, 8, 8), ab.clone(), ts.clone(), gen)",
            reference=f"_ld_sample(unet, ae, {s}, 3, {steps}, {seed})",
            compare=tensor_close(1e-4, 2e-5),
            message="decoded DDIM samples for another number of steps and scale factor",
        )
        for seed, steps, s in [(5, 10, 1.3), (6, 25, 1.4), (7, 4, 0.7)]
    ],
}


# Shown to the student under a test cell whose hidden checks fail: where to look, never an input.
HINTS = {
    "test_kl_divergence": (
        "KL of a diagonal Gaussian to N(0, I): reduce over exactly the dimensions the notebook says, and return "
        "a 0-d tensor."
    ),
    "test_compute_scale_factor": (
        "The scale factor makes the encoded latents unit-variance (Rombach et al. 2022); return a Python float."
    ),
    "test_latent_diffusion_loss": (
        "Encode, scale, noise, predict, compare: the loss is on scaled latents, a 0-d tensor, for every "
        "timestep including the ends."
    ),
    "test_sample_latent_diffusion": (
        "Sample in latent space, undo the scale factor before decoding, and use the number of steps you are given."
    ),
}
