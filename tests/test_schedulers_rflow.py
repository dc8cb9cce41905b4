"""Tests of dimedia_course.schedulers.rflow against MONAI 1.6.1's RFlowScheduler, scipy and exact toy flows."""

import math

import numpy as np
import pytest
import torch
from monai.networks.schedulers import RFlowScheduler as MonaiRFlow
from monai.networks.schedulers.rectified_flow import timestep_transform
from scipy import stats

from dimedia_course import make_generator
from dimedia_course.losses import flow_matching_loss, flow_velocity_target
from dimedia_course.sampling import sample
from dimedia_course.schedulers import RFlowScheduler
from dimedia_course.schedulers.rflow import flow_interpolant, timestep_shift
from dimedia_course.toy import GaussianMixture, ToyFlowModel
from dimedia_course.training import train_diffusion

CONFIGS = [
    {},
    {"steps_offset": 3},
    {"use_timestep_transform": True, "spatial_dim": 2, "base_img_size_numel": 32 * 32},
    {"use_timestep_transform": True, "spatial_dim": 3, "base_img_size_numel": 16**3},
    {"use_timestep_transform": True, "spatial_dim": 2, "base_img_size_numel": 32 * 32, "use_discrete_timesteps": False},
]


@pytest.mark.parametrize("kwargs", CONFIGS)
@pytest.mark.parametrize("n", [1, 3, 7, 30, 50, 1000])
def test_set_timesteps_matches_monai(kwargs, n):
    numel = 64 * 64 if kwargs.get("spatial_dim", 3) == 2 else 32**3
    ours, theirs = RFlowScheduler(**kwargs), MonaiRFlow(**kwargs)
    ours.set_timesteps(n, input_img_size_numel=numel)
    theirs.set_timesteps(n, input_img_size_numel=numel)
    if kwargs.get("use_discrete_timesteps", True):
        assert ours.timesteps.dtype == theirs.timesteps.dtype == torch.int64
        assert torch.equal(ours.timesteps, theirs.timesteps)
    else:  # MONAI stores float16 (spacing 0.5 near 1000), we keep float32
        torch.testing.assert_close(ours.timesteps, theirs.timesteps.float(), rtol=0, atol=0.5)


def test_continuous_timesteps_without_shift_are_monai_to_float16():
    ours, theirs = RFlowScheduler(use_discrete_timesteps=False), MonaiRFlow(use_discrete_timesteps=False)
    ours.set_timesteps(7)
    theirs.set_timesteps(7)
    assert torch.equal(ours.timesteps.half(), theirs.timesteps)
    expected = torch.tensor([1000 * (1 - i / 7) for i in range(7)], dtype=torch.float32)
    torch.testing.assert_close(ours.timesteps, expected, rtol=0, atol=0)


def test_shift_matches_monai_and_preserves_the_shifted_snr():
    t = torch.linspace(0, 1000, 101, dtype=torch.float64)
    for numel, dim in ((64 * 64, 2), (96**3, 3), (16 * 16, 2)):
        base = 32 * 32 if dim == 2 else 32**3
        ratio = (numel / base) ** (1 / dim)
        ref = timestep_transform(t, numel, base_img_size_numel=base, spatial_dim=dim)
        torch.testing.assert_close(timestep_shift(t / 1000, ratio) * 1000, ref, rtol=1e-12, atol=1e-9)
        # Esser et al. 2024, sec. 5.3.2: the shifted time has the noise-to-signal ratio s/(1-s) times alpha
        s = t[1:-1] / 1000
        s2 = timestep_shift(s, ratio)
        torch.testing.assert_close(s2 / (1 - s2), ratio * s / (1 - s), rtol=1e-12, atol=0)


def test_add_noise_matches_monai_4d_5d_and_takes_2d():
    g = make_generator(0)
    sched, ref = RFlowScheduler(), MonaiRFlow()
    for shape in ((4, 2, 8, 8), (3, 1, 4, 4, 4)):
        x0, eps = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
        t = torch.tensor([0, 1, 500, 1000, 250, 999][: shape[0]])
        torch.testing.assert_close(sched.add_noise(x0, eps, t), ref.add_noise(x0, eps, t), rtol=1e-6, atol=1e-6)
    x0, eps = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    s = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0], dtype=torch.float64)
    expected = (1 - s[:, None]) * x0 + s[:, None] * eps
    torch.testing.assert_close(sched.add_noise(x0, eps, s * 1000), expected, rtol=1e-6, atol=1e-6)


def test_velocity_is_minus_the_path_derivative():
    """Finite differences of x_s = (1 - s) x0 + s eps (float64) against the target x0 - eps."""
    g = make_generator(1)
    x0, eps = torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(4, 6, generator=g, dtype=torch.float64)
    h = 1e-6
    for s in (0.1, 0.5, 0.9):
        fd = (flow_interpolant(x0, eps, s + h) - flow_interpolant(x0, eps, s - h)) / (2 * h)
        torch.testing.assert_close(-fd, flow_velocity_target(x0, eps), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("kwargs", CONFIGS[:3])
def test_step_matches_monai(kwargs):
    g = make_generator(2)
    ours, theirs = RFlowScheduler(**kwargs), MonaiRFlow(**kwargs)
    numel = 64 * 64
    ours.set_timesteps(10, input_img_size_numel=numel)
    theirs.set_timesteps(10, input_img_size_numel=numel)
    x = torch.randn(2, 1, 8, 8, generator=g)
    x_ref = x.clone()
    nexts = torch.cat((theirs.timesteps[1:], torch.tensor([0], dtype=theirs.timesteps.dtype)))  # MONAI's example
    for t, t_next in zip(theirs.timesteps, nexts):
        v = torch.randn(x.shape, generator=g)
        x_ref, x0_ref = theirs.step(v, t, x_ref, t_next)
        x, x0 = ours.step(v, t, x)  # default: the next listed timestep
        torch.testing.assert_close(x, x_ref, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(x0, x0_ref, rtol=1e-6, atol=1e-6)
        x = x_ref.clone()


def test_default_step_equals_monai_dt_without_shift():
    ours, theirs = RFlowScheduler(), MonaiRFlow()
    ours.set_timesteps(8)
    theirs.set_timesteps(8)
    x, v = torch.ones(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
    for t in theirs.timesteps:
        torch.testing.assert_close(ours.step(v, t, x)[0], theirs.step(v, t, x)[0], rtol=1e-6, atol=1e-6)


def test_step_errors():
    sched = RFlowScheduler()
    sched.set_timesteps(4)
    x = torch.zeros(1, 1, 2, 2)
    with pytest.raises(ValueError, match="not one of the inference timesteps"):
        sched.step(x, 333, x)
    with pytest.raises(ValueError, match="next_timestep"):
        sched.step(x, 250, x, next_timestep=500)
    with pytest.raises(ValueError, match="input_img_size_numel"):
        RFlowScheduler(use_timestep_transform=True).set_timesteps(4)
    with pytest.raises(ValueError, match="sample_method"):
        RFlowScheduler(sample_method="beta")


@pytest.mark.parametrize("method", ["uniform", "logit-normal"])
def test_training_timesteps_follow_their_law(method):
    """KS test against scipy's law: uniform on [0, T) or T * sigmoid(N(loc, scale^2)) (Esser et al. 2024, eq. 19)."""
    loc, scale = 0.3, 0.8
    sched = RFlowScheduler(sample_method=method, loc=loc, scale=scale, use_discrete_timesteps=False)
    t = sched.sample_timesteps(torch.zeros(20000, 1, 2, 2), generator=make_generator(3)).double().numpy() / 1000
    if method == "uniform":
        cdf = stats.uniform.cdf
    else:
        cdf = lambda s: stats.norm.cdf((np.log(s) - np.log1p(-s) - loc) / scale)  # noqa: E731
    assert stats.kstest(t, cdf).pvalue > 1e-3
    ref = MonaiRFlow(sample_method=method, loc=loc, scale=scale, use_discrete_timesteps=False)
    torch.manual_seed(0)
    t_monai = ref.sample_timesteps(torch.zeros(20000, 1, 2, 2)).double().numpy() / 1000
    assert stats.ks_2samp(t, t_monai).pvalue > 1e-3


def test_training_timesteps_discrete_and_shifted_as_monai():
    sched = RFlowScheduler(use_timestep_transform=True, base_img_size_numel=32 * 32, spatial_dim=2)
    x = torch.zeros(500, 1, 64, 64)
    t = sched.sample_timesteps(x, generator=make_generator(4))
    # MONAI: integer draws, then shifted with the dimension of x (2 here)
    raw = (torch.rand(500, generator=make_generator(4)) * 1000).long()
    ref = timestep_transform(raw, torch.tensor(64 * 64), base_img_size_numel=32 * 32, spatial_dim=2)
    torch.testing.assert_close(t.double(), ref.double(), rtol=1e-6, atol=1e-4)


def test_euler_sampling_with_the_exact_velocity_reproduces_the_gaussian():
    """One Gaussian: the exact flow maps z to mu + std z; 200 Euler steps of the sample() loop get there."""
    mu, std = 0.7, 0.4
    mix = GaussianMixture(mu, std=std, dim=4)
    model = ToyFlowModel(mix)
    sched = RFlowScheduler(use_discrete_timesteps=False)
    z = torch.randn(4000, 1, 2, 2, generator=make_generator(5), dtype=torch.float64)
    out = sample(model, sched, x_T=z, num_inference_steps=200)
    err = (out - (mu + std * z)).abs().max().item()
    assert err < 2e-2  # first-order Euler: 1.3e-2 at 200 steps for |z| up to 4
    assert out.mean().item() == pytest.approx(mu, abs=0.02)
    assert out.std().item() == pytest.approx(std, abs=0.01)


def test_euler_error_is_first_order():
    mix = GaussianMixture(0.7, std=0.4, dim=4)
    model, sched = ToyFlowModel(mix), RFlowScheduler(use_discrete_timesteps=False)
    z = torch.randn(64, 1, 2, 2, generator=make_generator(6), dtype=torch.float64)
    errs = [(sample(model, sched, x_T=z, num_inference_steps=n) - (0.7 + 0.4 * z)).abs().max().item() for n in (20, 40)]
    assert 1.7 < errs[0] / errs[1] < 2.3


def test_sample_loop_applies_the_shift_from_the_image_size():
    sched = RFlowScheduler(use_timestep_transform=True, base_img_size_numel=2 * 2, spatial_dim=2)
    model = ToyFlowModel(GaussianMixture(0.0, std=0.5, dim=16))
    sample(model, sched, shape=(1, 1, 4, 4), num_inference_steps=5, generator=make_generator(0))
    ref = MonaiRFlow(use_timestep_transform=True, base_img_size_numel=2 * 2, spatial_dim=2)
    ref.set_timesteps(5, input_img_size_numel=16)
    assert torch.equal(sched.timesteps, ref.timesteps)


def test_the_exact_velocity_is_the_conditional_expectation_of_the_cfm_target():
    """E[(u - v(x_s)) f(x_s)] = 0 for test functions f (the defining property of v = E[u | x_s], so the
    CFM loss is minimised by v; Lipman et al. 2023, thm. 2), Monte Carlo within 4 standard errors; and
    flow_matching_loss equals the mean squared residual of the same draws."""
    mix = GaussianMixture([[-1.0], [1.5]], std=0.3, weights=[0.4, 0.6])
    model = ToyFlowModel(mix)
    sched = RFlowScheduler(use_discrete_timesteps=False, sample_method="logit-normal")
    n = 200000
    x0 = mix.sample(n, generator=make_generator(7)).double().reshape(-1, 1, 1, 1)
    g = make_generator(8)
    t = sched.sample_timesteps(x0, generator=g).double()
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x_s = sched.add_noise(x0, eps, t)
    resid = (flow_velocity_target(x0, eps) - model(x_s, t)).flatten()
    xs = x_s.flatten()
    for f in (torch.ones_like(xs), xs, xs**2, torch.sin(3 * xs), t / 1000):
        prod = resid * f
        assert abs(prod.mean().item()) < 4 * prod.std().item() / math.sqrt(n)
    loss = flow_matching_loss(model, x0, sched, t=t, noise=eps)
    assert loss.item() == pytest.approx((resid**2).mean().item(), rel=1e-9)


def test_one_training_loop_trains_a_flow():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 4), torch.nn.Unflatten(1, (1, 2, 2)))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = net

        def forward(self, x, t):
            return self.body(x)

    data = GaussianMixture(0.5, std=0.2, dim=4).sample(256, generator=make_generator(9)).reshape(-1, 1, 2, 2)
    hist = train_diffusion(Net(), data, RFlowScheduler(sample_method="logit-normal"), steps=60, lr=1e-2, progress=False)
    assert hist["prediction_type"] == "flow_velocity"
    assert np.mean(hist["loss"][-10:]) < np.mean(hist["loss"][:10])
    assert all(math.isfinite(v) for v in hist["loss"])
