"""Tests of dimedia_course.latent.LatentDiffusion (MONAI AutoencoderKL + latent DDIM)."""

import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.latent import LatentDiffusion, kl_divergence
from dimedia_course.nn import SmallUNet
from dimedia_course.schedulers import DDIMScheduler


def _tiny(**kw):
    unet = SmallUNet(in_channels=2, out_channels=2, base_channels=8, channel_mults=(1,), attention_levels=(False,))
    return LatentDiffusion(
        image_size=16,
        latent_channels=2,
        ae_channels=(8, 8),
        unet=unet,
        scheduler=DDIMScheduler(num_train_timesteps=100),
        **kw,
    )


def test_kl_divergence_zero_for_standard_normal():
    assert kl_divergence(torch.zeros(2, 3), torch.ones(2, 3)).item() == pytest.approx(0.0, abs=1e-6)
    assert kl_divergence(torch.ones(2, 3), torch.ones(2, 3)).item() == pytest.approx(1.5)


def test_latent_diffusion_end_to_end():
    g = make_generator(0)
    images = torch.rand(8, 1, 16, 16, generator=g) * 2 - 1
    ldm = _tiny()
    assert ldm.latent_size == 8
    hist = ldm.fit_autoencoder(images, steps=3, batch_size=4, generator=g)
    assert len(hist) == 3 and all(h == h for h in hist)
    assert ldm.encode(images).shape == (8, 2, 8, 8)
    assert ldm.reconstruct(images).shape == images.shape
    s = ldm.compute_scale_factor(images)
    assert s > 0 and (ldm.encode(images) * s).std().item() == pytest.approx(1.0, rel=1e-4)
    ldm.fit_diffusion(images, steps=2, batch_size=4, generator=g)
    samples = ldm.sample(3, num_inference_steps=3, generator=make_generator(1))
    assert samples.shape == (3, 1, 16, 16) and samples.abs().max() <= 1
    again = ldm.sample(3, num_inference_steps=3, generator=make_generator(1))
    torch.testing.assert_close(samples, again)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="divisible"):
        LatentDiffusion(image_size=15, ae_channels=(8, 8))
    with pytest.raises(ValueError, match="multiples of 8"):
        LatentDiffusion(image_size=16, ae_channels=(6, 8))
    ldm = _tiny()
    with pytest.raises(ValueError, match="16 x 16"):
        ldm.fit_autoencoder(torch.rand(4, 1, 8, 8), steps=1)
    with pytest.raises(ValueError, match="channel"):
        ldm.encode(torch.rand(4, 3, 16, 16))
    with pytest.raises(ValueError, match="steps"):
        ldm.fit_autoencoder(torch.rand(4, 1, 16, 16), steps=0)
    with pytest.raises(RuntimeError, match="train"):
        ldm.sample(2)
