"""The 3D path of the 3D demo (book/demos/ddpm_3d.md), fast: MNI152 volumes, one training step and a short sample
with MONAI's DiffusionModelUNet(spatial_dims=3), and DDIM on an exact 3D denoiser against the known answer."""

import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.data import mni152_volumes
from dimedia_course.sampling import sample
from dimedia_course.schedulers import DDIMScheduler, DDPMScheduler
from dimedia_course.toy import GaussianMixture, ToyDenoiser
from dimedia_course.training import train_diffusion


def test_mni152_volumes_shapes_range_and_augmentation():
    v = mni152_volumes(n=3, size=12, seed=0)
    assert v.shape == (3, 1, 12, 12, 12) and v.dtype == torch.float32 and v.is_contiguous()
    assert float(v.min()) >= -1 and float(v.max()) <= 1 and float(v.min()) == -1  # background at -1
    assert torch.equal(v, mni152_volumes(n=3, size=12, seed=0))  # the seed fixes the augmentation
    assert not torch.equal(v, mni152_volumes(n=3, size=12, seed=1))
    assert torch.equal(v[:2], mni152_volumes(n=2, size=12, seed=0))  # copy i does not depend on n
    plain = mni152_volumes(n=2, size=12, augment=False)
    assert torch.equal(plain[0], plain[1]) and not torch.equal(plain[0], v[0])
    # augmentation moves the brain a little, it does not replace it: close to the plain volume on average
    assert float((v - plain[:1]).abs().mean()) < 0.25
    brain = (v > -0.9).float().mean(dim=(1, 2, 3, 4))
    assert bool(((brain > 0.1) & (brain < 0.7)).all())


class Denoiser3D(torch.nn.Module):
    """The demo's wrapper, tiny: MONAI's 3D DiffusionModelUNet as ``model(x, t, y=None)``."""

    def __init__(self):
        from monai.networks.nets import DiffusionModelUNet

        super().__init__()
        self.net = DiffusionModelUNet(
            spatial_dims=3,
            in_channels=1,
            out_channels=1,
            channels=(8, 8),
            attention_levels=(False, False),
            num_res_blocks=1,
            norm_num_groups=8,
        )

    def forward(self, x, t, y=None):
        return self.net(x, timesteps=t)


def test_monai_3d_unet_trains_a_step_and_samples():
    volumes = mni152_volumes(n=4, size=8, seed=0)
    torch.manual_seed(0)
    model = Denoiser3D()
    before = [p.detach().clone() for p in model.parameters()]
    scheduler = DDPMScheduler(1000, prediction_type="v_prediction")
    history = train_diffusion(
        model, volumes, scheduler, steps=1, batch_size=2, lr=2e-3, seed=0, device="cpu", progress=False
    )
    assert len(history["loss"]) == 1 and torch.isfinite(torch.tensor(history["loss"])).all()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    model.eval()
    ddim = DDIMScheduler(1000, prediction_type="v_prediction")
    out = sample(model, ddim, (2, 1, 8, 8, 8), num_inference_steps=2, generator=make_generator(1))
    assert out.shape == (2, 1, 8, 8, 8) and bool(torch.isfinite(out).all())
    again = sample(model, ddim, (2, 1, 8, 8, 8), num_inference_steps=2, generator=make_generator(1))
    assert torch.equal(out, again)  # DDIM (eta = 0) is deterministic given x_T


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_ddim_on_an_exact_3d_denoiser_gives_the_right_mean_and_std(prediction_type):
    """Data N(mu, 0.5^2 I) over 4 x 4 x 4 volumes (mu varies over the voxels): DDIM with the exact denoiser
    (Tweedie, dimedia_course.toy) returns samples with that mean and standard deviation, up to the discretisation
    of the probability-flow ODE, which shrinks the spread a little with few steps (0.47 at 50 steps, 0.493 at 200)."""
    shape = (1, 4, 4, 4)
    mu = torch.linspace(-0.6, 0.6, 64).reshape(shape)
    mixture = GaussianMixture(mu.flatten(), std=0.5)
    ddim = DDIMScheduler(1000, prediction_type=prediction_type, clip_sample=False)
    model = ToyDenoiser(mixture, ddim.alphas_cumprod, prediction_type)
    std = {}
    for steps in (20, 200):
        out = sample(model, ddim, (2000, *shape), num_inference_steps=steps, generator=make_generator(0))
        assert out.shape == (2000, *shape) and out.dtype == torch.float32
        torch.testing.assert_close(out.mean(0), mu, atol=0.05, rtol=0)  # standard error 0.5 / sqrt(2000) ~ 0.011
        std[steps] = float(out.std(0).mean())
    assert std[200] == pytest.approx(0.5, rel=0.03) and std[20] < std[200]  # converges with more steps
    voxels = (out - out.mean(0)).flatten(1).T
    assert float(voxels.corrcoef().fill_diagonal_(0).abs().max()) < 0.15  # independent voxels
