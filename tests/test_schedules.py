import math

import numpy as np
import pytest
import torch
from monai.networks.schedulers import DDPMScheduler as MonaiDDPM

from dimedia_course.schedules import NoiseSchedule, extract, make_beta_schedule


@pytest.mark.parametrize(
    "name, monai_name", [("linear", "linear_beta"), ("scaled_linear", "scaled_linear_beta"), ("cosine", "cosine")]
)
@pytest.mark.parametrize("T", [10, 1000])
def test_alphas_cumprod_match_monai(name, monai_name, T):
    ours = NoiseSchedule.from_name(name, T)
    ref = MonaiDDPM(num_train_timesteps=T, schedule=monai_name)
    assert ours.betas.dtype == torch.float32 and ours.betas.shape == (T,)
    # MONAI computes the cosine schedule in float32 (cancellation in 1 - ab_t/ab_{t-1}); ours in float64
    atol = 5e-5 if name == "cosine" else 1e-7
    torch.testing.assert_close(ours.betas, ref.betas.float(), rtol=1e-5, atol=atol)
    torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod.float(), rtol=1e-4, atol=1e-7)
    # the MONAI alias gives the same betas
    torch.testing.assert_close(make_beta_schedule(monai_name, T), ours.betas)


def test_linear_endpoints_and_scaled_linear():
    b = make_beta_schedule("linear", 1000, 1e-4, 2e-2)
    assert b[0].item() == pytest.approx(1e-4) and b[-1].item() == pytest.approx(2e-2)
    s = make_beta_schedule("scaled_linear", 5, 0.00085, 0.012)
    roots = torch.linspace(0.00085**0.5, 0.012**0.5, 5, dtype=torch.float64)
    torch.testing.assert_close(s, (roots**2).float())


def test_cosine_formula_and_clipping():
    T, s = 1000, 0.008
    betas = make_beta_schedule("cosine", T, cosine_s=s)
    assert betas.max().item() <= 0.999 + 1e-7
    assert betas[-1].item() == pytest.approx(0.999)  # clipped at the end

    def f(t):
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2

    # before clipping kicks in, alphabar_t = f(t+1)/f(0) (Nichol & Dhariwal eq. 17, 0-based index)
    ab = NoiseSchedule(betas).alphas_cumprod
    for t in (0, 10, 500, 900):
        assert ab[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-4)


@pytest.mark.parametrize("name", ["linear", "scaled_linear", "cosine", "sigmoid"])
def test_snr_monotone_and_consistent(name):
    sched = NoiseSchedule.from_name(name, 200)
    snr = sched.snr()
    assert snr.shape == (200,)
    assert bool((snr[1:] < snr[:-1]).all())
    ab = sched.alphas_cumprod.double()
    torch.testing.assert_close(snr, (ab / (1 - ab)).float())
    torch.testing.assert_close(sched.log_snr(torch.tensor([0, 50])), snr[[0, 50]].log(), rtol=1e-5, atol=1e-5)
    assert sched.snr(3).shape == ()


def test_ve_sigma_is_the_noise_of_the_rescaled_vp_sample():
    """sigma_t^2 = (1 - alphabar_t) / alphabar_t in float64 from numpy's cumprod, and x_t / sqrt(alphabar_t) =
    x_0 + sigma_t eps for a VP sample x_t (Song et al. 2021, sec. 3.4)."""
    sched = NoiseSchedule.from_name("linear", 1000)
    ab = np.cumprod(1.0 - sched.betas.double().numpy())
    sigma = sched.ve_sigma().double().numpy()
    # alphabar is stored in float32, so 1 - alphabar near t = 0 carries a relative error of up to ~1e-3
    np.testing.assert_allclose(sigma, np.sqrt((1 - ab) / ab), rtol=2e-3)
    np.testing.assert_allclose(sigma[100:], np.sqrt((1 - ab) / ab)[100:], rtol=1e-5)
    torch.testing.assert_close(sched.ve_sigma(torch.tensor([5, 700])), sched.snr(torch.tensor([5, 700])) ** -0.5)
    x0, eps, t = torch.tensor([0.3, -1.2], dtype=torch.float64), torch.tensor([1.1, 0.4], dtype=torch.float64), 600
    a = float(ab[t])
    xt = a**0.5 * x0 + (1 - a) ** 0.5 * eps
    torch.testing.assert_close(xt / a**0.5, x0 + sched.ve_sigma(t).double() * eps, rtol=1e-6, atol=1e-6)


def test_derived_quantities():
    sched = NoiseSchedule(torch.tensor([0.1, 0.2, 0.3]))
    torch.testing.assert_close(sched.alphas, torch.tensor([0.9, 0.8, 0.7]))
    torch.testing.assert_close(sched.alphas_cumprod, torch.tensor([0.9, 0.72, 0.504]))
    torch.testing.assert_close(sched.alphas_cumprod_prev, torch.tensor([1.0, 0.9, 0.72]))
    assert sched.num_train_timesteps == 3 and len(sched) == 3
    assert "NoiseSchedule" in repr(sched)


def test_extract_broadcasts_and_checks():
    values = torch.arange(5.0)
    x = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    out = extract(values, torch.tensor([1, 3]), x)
    assert out.shape == (2, 1, 1, 1) and out.dtype == torch.float64
    assert out.flatten().tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match=r"\[0, 4\]"):
        extract(values, torch.tensor([5, 0]), x)
    with pytest.raises(ValueError, match="batch has 2"):
        extract(values, torch.tensor([1, 2, 3]), x)
    with pytest.raises(TypeError, match="integers"):
        extract(values, torch.tensor([0.5, 1.0]), x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'"):
        make_beta_schedule("quadratic")
    with pytest.raises(ValueError, match="num_train_timesteps must be >= 1"):
        make_beta_schedule("linear", 0)
    with pytest.raises(TypeError, match="num_train_timesteps must be an int"):
        make_beta_schedule("linear", 10.0)
    with pytest.raises(ValueError, match="beta_start"):
        make_beta_schedule("linear", 10, beta_start=0.1, beta_end=0.01)
    with pytest.raises(ValueError, match=r"open interval \(0, 1\)"):
        NoiseSchedule(torch.tensor([0.1, 1.0]))
    with pytest.raises(ValueError, match="1-D"):
        NoiseSchedule(torch.ones(2, 2) * 0.1)
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        NoiseSchedule.from_name("linear", 10).snr(10)
