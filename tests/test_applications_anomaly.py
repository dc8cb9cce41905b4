"""Tests of dimedia_course.applications.anomaly (maps, healthy reconstruction, evaluation)."""

import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.applications.anomaly import (
    anomaly_map,
    brain_mask,
    evaluate_anomaly_maps,
    gaussian_smooth,
    healthy_reconstruction,
)
from dimedia_course.inversion import ddim_invert
from dimedia_course.sampling import sample
from dimedia_course.schedulers import DDIMScheduler, DDPMScheduler


class TinyDenoiser(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x, t, y=None):
        return self.conv(x)


def _images(n=2, size=16, seed=0):
    g = make_generator(seed)
    x = torch.full((n, 1, size, size), -1.0)
    x[:, :, 3:-3, 3:-3] = 0.5 + 0.1 * torch.rand(n, 1, size - 6, size - 6, generator=g)
    return x


def test_gaussian_smooth_and_brain_mask():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    s = gaussian_smooth(x, 1.0)
    assert s.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert s[0, 0, 4, 4] < 1 and s[0, 0, 4, 4] == s.max()
    assert torch.equal(gaussian_smooth(x, 0), x)
    m = brain_mask(_images())
    assert m[0, 0, 0, 0] == 0 and m[0, 0, 8, 8] == 1


def test_ddim_inversion_then_loop_recovers_input():
    # with an exact epsilon model (eps = 0 everywhere, data = constant) the round trip is exact;
    # with a generic tiny model it is close for few steps
    torch.manual_seed(0)
    model, sched = TinyDenoiser(), DDIMScheduler(num_train_timesteps=100, clip_sample=False)
    with torch.no_grad():
        model.conv.weight.mul_(0.01)
        model.conv.bias.zero_()
    x = _images()
    x_L = ddim_invert(model, sched, x, num_inference_steps=20, stop_index=10)
    back = sample(model, sched, x_T=x_L, num_inference_steps=20, start_index=10)
    assert (back - x).abs().max() < 0.05


class InputFreeDenoiser(torch.nn.Module):
    """Output depends on t only: DDIM inversion then decoding must round-trip exactly."""

    def forward(self, x, t, y=None):
        return torch.sin(t.float() / 7.0).view(-1, 1, 1, 1).expand_as(x) * 0.3


@pytest.mark.parametrize("steps", [10, 50])
def test_ddim_healthy_reconstruction_round_trip_is_exact_for_an_input_free_model(steps):
    sched = DDIMScheduler(num_train_timesteps=1000, clip_sample=False)
    x = _images()
    recon = healthy_reconstruction(
        InputFreeDenoiser(), sched, x, noise_level=0.6, num_inference_steps=steps, method="ddim"
    )
    assert (recon - x).abs().max() < 1e-4


@pytest.mark.parametrize("scheduler_class", [DDIMScheduler, DDPMScheduler])
def test_partial_noise_is_eq4_at_t_L_then_the_loop_from_start_index(scheduler_class):
    """partial_noise = x_L = sqrt(abar_L) x + sqrt(1 - abar_L) eps (Ho et al. 2020, eq. 4, in float64 by hand) at
    t_L = timesteps[start], then the sampling loop from ``start`` with the same generator."""
    torch.manual_seed(0)
    model, sched, x = TinyDenoiser(), scheduler_class(num_train_timesteps=100), _images()
    recon = healthy_reconstruction(model, sched, x, noise_level=0.5, num_inference_steps=4, generator=make_generator(1))
    g = make_generator(1)
    noise = torch.randn(x.shape, generator=g, dtype=x.dtype)
    sched.set_timesteps(4)
    start = 2  # round(0.5 * 4) = 2 denoising steps of 4
    t_L = int(sched.timesteps[start])
    abar = float(torch.cumprod(1 - sched.betas.double(), 0)[t_L])
    x_L = (abar**0.5 * x.double() + (1 - abar) ** 0.5 * noise.double()).float()
    torch.testing.assert_close(sched.add_noise(x, noise, sched.timesteps[start]), x_L, rtol=0, atol=1e-6)
    expected = sample(model, sched, x_T=x_L, start_index=start, generator=g)
    torch.testing.assert_close(recon, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("method", ["partial_noise", "ddim"])
def test_anomaly_map_shapes_and_mask(method):
    model, sched = TinyDenoiser(), DDIMScheduler(num_train_timesteps=100)
    x = _images()
    mask = brain_mask(x)
    recon, amap = anomaly_map(
        model,
        sched,
        x,
        noise_level=0.5,
        num_inference_steps=4,
        method=method,
        mask=mask,
        generator=make_generator(0),
        n_repeats=2,
    )
    assert recon.shape == x.shape and amap.shape == (2, 1, 16, 16)
    assert (amap >= 0).all() and (amap[mask == 0] == 0).all()
    r = healthy_reconstruction(
        model, sched, x, noise_level=0.25, num_inference_steps=4, method=method, generator=make_generator(0)
    )
    assert r.shape == x.shape


def test_evaluate_anomaly_maps_perfect_and_random():
    masks = torch.zeros(2, 1, 16, 16)
    masks[:, :, 5:8, 5:8] = 1
    perfect = masks * 2 + 0.01 * torch.rand(2, 1, 16, 16, generator=make_generator(0))
    res = evaluate_anomaly_maps(perfect, masks, threshold=1.0)
    assert res["auroc"] == 1.0 and res["dice"] == 1.0 and res["best_dice"] == 1.0
    noise = torch.rand(2, 1, 16, 16, generator=make_generator(1))
    res = evaluate_anomaly_maps(noise, masks, region=torch.ones_like(masks))
    assert 0.2 < res["auroc"] < 0.8 and res["dice"] != res["dice"]  # NaN without a threshold


def test_bad_inputs_raise_clear_errors():
    model, sched = TinyDenoiser(), DDIMScheduler(num_train_timesteps=100)
    x = _images()
    with pytest.raises(ValueError, match="noise_level"):
        anomaly_map(model, sched, x, noise_level=1.5)
    with pytest.raises(ValueError, match="method"):
        anomaly_map(model, sched, x, method="magic", num_inference_steps=2)
    with pytest.raises(ValueError, match="binary"):
        anomaly_map(model, sched, x, mask=torch.rand_like(x), num_inference_steps=2)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        anomaly_map(model, sched, x[0])
    with pytest.raises(ValueError, match="same shape"):
        evaluate_anomaly_maps(torch.rand(2, 1, 8, 8), torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="binary"):
        evaluate_anomaly_maps(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="both classes"):
        evaluate_anomaly_maps(torch.rand(2, 1, 8, 8), torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="sigma"):
        gaussian_smooth(x, -1)
