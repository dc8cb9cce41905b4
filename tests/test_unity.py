"""One reference: every public sampling path is the one loop of dimedia_course.sampling, checked on the same
inputs, and the samplers, inversion and guidance are checked against exact denoisers (dimedia_course.toy)."""

import ast
import warnings
from pathlib import Path

import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.guidance import ClassifierFreeGuidedModel, ClassifierGuidedModel
from dimedia_course.inversion import ddim_invert, ddim_reconstruct
from dimedia_course.sampling import sample
from dimedia_course.schedulers import DDIMScheduler, DDPMScheduler
from dimedia_course.toy import GaussianMixture, ToyClassifier, ToyDenoiser

PACKAGE = Path(__file__).resolve().parents[1] / "dimedia_course"


# ------------------------------------------------------------------------------ exact denoisers
@pytest.mark.parametrize("spacing", ["trailing", "leading", "linspace"])
@pytest.mark.parametrize("kind", ["ddim", "ddpm"])
def test_samplers_reproduce_gaussian_data(kind, spacing):
    """With the exact denoiser of N(0.3, 0.5^2), DDIM (eta=0) and DDPM give the data's mean and std."""
    sched = (DDIMScheduler if kind == "ddim" else DDPMScheduler)(1000, clip_sample=False, timestep_spacing=spacing)
    model = ToyDenoiser(GaussianMixture(0.3, std=0.5, dim=1), sched.alphas_cumprod)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'leading' warns that it lands off the evaluated timesteps
        x = sample(model, sched, (4000, 1, 1, 1), num_inference_steps=100, generator=make_generator(0))
    error = max(abs(x.mean().item() - 0.3), abs(x.std().item() - 0.5))
    if kind == "ddpm" and spacing == "leading":  # MONAI's one-step posteriors on skipped timesteps stay noisy
        assert error > 0.2
    else:
        assert error < 0.03


def test_leading_ddim_with_few_steps_is_off_and_warns():
    sched = DDIMScheduler(1000, clip_sample=False, timestep_spacing="leading")
    with pytest.warns(UserWarning, match="up to 167 timesteps away"):  # 999 -> 666 and 500 -> 167, not 500 and 0
        sched.set_timesteps(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the course default lands on the evaluated timesteps: no warning
        DDIMScheduler(1000).set_timesteps(3)


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_inversion_round_trip_with_exact_denoiser(prediction_type):
    sched = DDIMScheduler(1000, clip_sample=False, prediction_type=prediction_type)
    model = ToyDenoiser(GaussianMixture(0.3, std=0.5, dim=16), sched.alphas_cumprod, prediction_type)
    x0 = 0.3 + 0.5 * torch.randn(8, 1, 4, 4, generator=make_generator(1))
    errors = []
    for n in (20, 200):
        x_T = ddim_invert(model, sched, x0, num_inference_steps=n)
        assert torch.isfinite(x_T).all()
        errors.append((ddim_reconstruct(model, sched, x_T, num_inference_steps=n) - x0).abs().max().item())
    assert errors[1] < errors[0] and errors[1] < 0.05


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample"])
@pytest.mark.parametrize("stop_index", [0, 4, 9])
def test_inversion_mirrors_the_sampler_exactly_for_an_input_free_model(prediction_type, stop_index):
    """A model that ignores x: sample(x_T=ddim_invert(x, stop_index=k), start_index=k) returns x exactly."""
    sched = DDIMScheduler(1000, clip_sample=False, prediction_type=prediction_type)

    def model(x, t, y=None):
        return (0.2 * torch.cos(t.double() / 50)).view(-1, 1, 1, 1).expand_as(x).to(x.dtype)

    x0 = torch.rand(3, 1, 4, 4, generator=make_generator(2)) * 2 - 1
    x_k = ddim_invert(model, sched, x0, num_inference_steps=10, stop_index=stop_index)
    back = sample(model, sched, x_T=x_k, start_index=stop_index)
    assert torch.isfinite(x_k).all()
    if prediction_type == "epsilon":
        torch.testing.assert_close(back, x0, rtol=1e-5, atol=1e-5)
    else:  # the last step to alphabar = 1 returns the x0 output at the last timestep: x0 itself is not recoverable
        last = torch.full((3,), int(sched.timesteps[-1]))
        torch.testing.assert_close(back, model(x0, last), rtol=1e-5, atol=1e-5)


def test_classifier_free_guidance_with_exact_denoiser():
    """s = 1 samples class y, s = 0 the whole mixture (Ho & Salimans 2022), through sample(y=, guidance_scale=)."""
    sched = DDIMScheduler(1000, clip_sample=False)
    mix = GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], std=0.3)
    model = ToyDenoiser(mix, sched.alphas_cumprod)
    y = torch.ones(2000, dtype=torch.long)

    def kw():
        return dict(num_inference_steps=50, generator=make_generator(3))

    cond = sample(model, sched, (2000, 2, 1, 1), y=y, guidance_scale=1.0, **kw()).view(-1, 2)
    assert (cond[:, 0] > 0).float().mean() > 0.99 and abs(cond[:, 0].mean().item() - 1.0) < 0.05
    uncond = sample(model, sched, (2000, 2, 1, 1), y=y, guidance_scale=0.0, **kw()).view(-1, 2)
    assert 0.4 < (uncond[:, 0] > 0).float().mean() < 0.6
    wrapped = sample(ClassifierFreeGuidedModel(model, 0.0, null_label=2), sched, (2000, 2, 1, 1), y=y, **kw())
    torch.testing.assert_close(wrapped.view(-1, 2), uncond)


def test_classifier_guidance_with_exact_classifier():
    """Scale 1 with the exact noisy classifier samples the class-conditional law (Dhariwal & Nichol 2021)."""
    sched = DDIMScheduler(1000, clip_sample=False)
    mix = GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], std=0.3)
    guided = ClassifierGuidedModel(
        ToyDenoiser(mix, sched.alphas_cumprod), ToyClassifier(mix, sched.alphas_cumprod), sched, 1.0
    )
    y = torch.ones(2000, dtype=torch.long)
    x = sample(guided, sched, (2000, 2, 1, 1), y=y, num_inference_steps=50, generator=make_generator(4)).view(-1, 2)
    exact = sample(
        ToyDenoiser(mix, sched.alphas_cumprod),
        sched,
        (2000, 2, 1, 1),
        y=y,
        num_inference_steps=50,
        generator=make_generator(4),
    ).view(-1, 2)
    torch.testing.assert_close(x, exact, rtol=1e-3, atol=2e-3)


def test_dps_hook_pulls_samples_towards_the_measurement():
    sched = DDIMScheduler(1000, clip_sample=False)
    mix = GaussianMixture([[1.5, 0.0], [-1.5, 0.0], [0.0, 1.5], [0.0, -1.5]], std=0.3)
    model = ToyDenoiser(mix, sched.alphas_cumprod)

    def likelihood(x0):  # sum over samples of |y - x0[0]| with y = 1.5
        return (1.5 - x0[:, 0]).abs().sum()

    kw = dict(num_inference_steps=100, eta=1.0, generator=make_generator(5))
    prior = sample(model, sched, (500, 2, 1, 1), **kw)[:, 0]
    post = sample(model, sched, (500, 2, 1, 1), likelihood=likelihood, dps_scale=0.05, **kw)[:, 0]
    assert (post - 1.5).abs().mean() < 0.5 * (prior - 1.5).abs().mean()


# ------------------------------------------------------------------------------ one loop
def _tiny_setup():
    sched = DDIMScheduler(100, clip_sample=False)
    mix = GaussianMixture(0.1, std=0.5, dim=64)
    return sched, ToyDenoiser(mix, sched.alphas_cumprod)


def test_x0_correction_identity_is_plain_sampling():
    sched, model = _tiny_setup()
    x_T = torch.randn(2, 1, 8, 8, generator=make_generator(6))
    plain = sample(model, sched, x_T=x_T, num_inference_steps=10, eta=0.5, generator=make_generator(7))
    hooked = sample(
        model,
        sched,
        x_T=x_T,
        num_inference_steps=10,
        eta=0.5,
        generator=make_generator(7),
        x0_correction=lambda x0, t: x0,
    )
    torch.testing.assert_close(hooked, plain)


def test_applications_sample_through_the_one_loop():
    from dimedia_course.applications.anomaly import healthy_reconstruction
    from dimedia_course.applications.reconstruction import MRIOperator, cartesian_mask, diffusion_reconstruct
    from dimedia_course.applications.segmentation import segment

    sched, model = _tiny_setup()
    images = torch.rand(2, 1, 8, 8, generator=make_generator(8)) * 2 - 1
    # anomaly: partial noising to timesteps[start] then sample(start_index=start)
    got = healthy_reconstruction(
        model, sched, images, noise_level=0.5, num_inference_steps=10, generator=make_generator(9)
    )
    g = make_generator(9)
    noise = torch.randn(images.shape, generator=g)
    sched.set_timesteps(10)
    x_L = sched.add_noise(images, noise, torch.full((2,), int(sched.timesteps[5])))
    torch.testing.assert_close(got, sample(model, sched, x_T=x_L, start_index=5, generator=g))
    # MRI data consistency = sample with the projection as x0_correction
    op = MRIOperator(cartesian_mask(8, acceleration=2, center_fraction=0.25, generator=make_generator(1)))
    k = op(images)
    x_T = torch.randn(2, 1, 8, 8, generator=make_generator(10))
    got = diffusion_reconstruct(model, sched, op, k, num_inference_steps=10, x_T=x_T)
    ref = sample(
        model, sched, x_T=x_T, num_inference_steps=10, x0_correction=lambda x0, t: op.project(x0, k).clamp(-1, 1)
    )
    torch.testing.assert_close(got, op.project(ref, k).clamp(-1, 1))

    # segmentation: an image-conditioned sampler with the image as concat_condition
    class CondModel(torch.nn.Module):
        def forward(self, x, t, y=None):
            return model(x[:, :1], t) + 0.1 * x[:, 1:]

    res = segment(CondModel(), sched, images, n_samples=2, num_inference_steps=5, generator=make_generator(11))
    g = make_generator(11)
    x_T = torch.randn((4, 1, 8, 8), generator=g)
    ref = sample(
        CondModel(),
        sched,
        x_T=x_T,
        num_inference_steps=5,
        eta=1.0,
        generator=g,
        concat_condition=images.repeat(2, 1, 1, 1),
    )
    torch.testing.assert_close(res["samples"].view(4, 1, 8, 8), ((ref + 1) / 2).clamp(0, 1))


def test_latent_sampling_is_the_one_loop():
    from dimedia_course.latent import LatentDiffusion

    ldm = LatentDiffusion(image_size=8, latent_channels=2, ae_channels=(8, 16))
    ldm.scale_factor = 1.0
    g = make_generator(12)
    out = ldm.sample(2, num_inference_steps=4, generator=g)
    z_T = torch.randn((2, 2, 4, 4), generator=make_generator(12))
    z = sample(ldm.unet, ldm.scheduler, x_T=z_T, num_inference_steps=4)
    torch.testing.assert_close(out, ldm.decode(z).clamp(-1, 1))


# ------------------------------------------------------------------------------ architecture
LAYERS = {  # a module may import only from its own layer or lower ones
    "validation": 0,
    "device": 0,
    "schedules": 1,
    "forward": 1,
    "losses": 1,
    "metrics": 1,
    "checkpoint": 1,
    "schedulers": 2,
    "nn": 2,
    "toy": 2,
    "data": 2,
    "guidance": 3,
    "sampling": 3,
    "inversion": 3,
    "training": 3,
    "latent": 4,
    "applications": 4,
    "train": 5,
    "pretrained": 5,
    "configs": 5,
    "course": 6,
    "grading": 6,
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        yield name, ast.parse(path.read_text())


def _imports(tree, name):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def test_no_private_name_crosses_a_module_boundary():
    offenders = []
    for name, tree in _modules():
        for module, names in _imports(tree, name):
            if module.startswith("dimedia_course"):
                package = module.rsplit(".", 1)[0]
                private = any(part.startswith("_") for part in module.split("."))
                if private and not name.startswith(package):  # a subpackage's private module stays inside it
                    offenders.append(f"{name} imports private module {module}")
                offenders += [f"{name} imports {module}.{n}" for n in names if n.startswith("_") and n != "__version__"]
    assert not offenders, offenders


def test_imports_point_down():
    offenders = []
    for name, tree in _modules():
        parts = name.split(".")
        if len(parts) < 2:
            continue
        mine = LAYERS.get(parts[1])
        assert mine is not None, f"add dimedia_course.{parts[1]} to LAYERS"
        for module, _ in _imports(tree, name):
            target = module.split(".")
            if target[0] != "dimedia_course" or len(target) < 2 or target[1] == parts[1]:
                continue
            theirs = LAYERS.get(target[1])
            if theirs is not None and theirs > mine:
                offenders.append(f"{name} (layer {mine}) imports {module} (layer {theirs})")
    assert not offenders, offenders
