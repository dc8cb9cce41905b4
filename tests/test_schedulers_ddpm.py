import warnings

import pytest
import torch
from monai.networks.schedulers import DDPMScheduler as MonaiDDPM

from dimedia_course.schedulers import DDPMScheduler

SCHEDULES = ["linear_beta", "scaled_linear_beta", "cosine"]
TOL = dict(rtol=1e-4, atol=1e-5)
# MONAI does the step arithmetic in float32, where 1 - alphabar_t loses ~3 digits at t < 10; we use
# float64 (see test_small_t_against_float64_reference), so near t = 0 the comparison is looser.
LOOSE = dict(rtol=1e-3, atol=2e-3)


def _data(shape=(2, 1, 4, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedule_and_add_noise_match_monai(schedule):
    ours, ref = DDPMScheduler(100, schedule, timestep_spacing="leading"), MonaiDDPM(100, schedule)
    torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod.float(), rtol=1e-4, atol=1e-7)
    x0, noise = _data()
    t = torch.tensor([3, 97])
    torch.testing.assert_close(ours.add_noise(x0, noise, t), ref.add_noise(x0, noise, t), **TOL)
    torch.testing.assert_close(ours.get_velocity(x0, noise, t), ref.get_velocity(x0, noise, t), **TOL)


@pytest.mark.parametrize("n", [1, 7, 50, 999, 1000])
def test_leading_timesteps_equal_monai(n):
    ours, ref = DDPMScheduler(timestep_spacing="leading"), MonaiDDPM()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours.set_timesteps(n)
    ref.set_timesteps(n)
    assert torch.equal(ours.timesteps, ref.timesteps)
    assert ours.timesteps.dtype == torch.long and ours.num_inference_steps == n


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("variance_type", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize("clip", [True, False])
def test_step_matches_monai_with_same_generator(schedule, prediction_type, variance_type, clip):
    kw = dict(schedule=schedule, prediction_type=prediction_type, variance_type=variance_type, clip_sample=clip)
    ours, ref = DDPMScheduler(1000, **kw, timestep_spacing="leading"), MonaiDDPM(1000, **kw)
    x, out = _data()
    for t in (999, 500, 1, 0):
        a = ours.step(out, t, x, generator=torch.Generator().manual_seed(t))
        b = ref.step(out, t, x, generator=torch.Generator().manual_seed(t))
        tol = TOL if t >= 10 else LOOSE
        torch.testing.assert_close(a[1], b[1], **tol)  # predicted x0
        torch.testing.assert_close(a[0], b[0], **tol)  # x_{t-1}, same noise draw as MONAI


@pytest.mark.parametrize("variance_type", ["learned", "learned_range"])
def test_learned_variances_match_monai(variance_type):
    ours, ref = (
        DDPMScheduler(variance_type=variance_type, timestep_spacing="leading"),
        MonaiDDPM(variance_type=variance_type),
    )
    x, out = _data((2, 2, 4, 4))
    var = torch.rand(2, 2, 4, 4, generator=torch.Generator().manual_seed(1)) * 0.01
    if variance_type == "learned_range":
        var = var * 100 - 0.5
    out2 = torch.cat([out, var], 1)
    for t in (700, 100):
        a = ours.step(out2, t, x, generator=torch.Generator().manual_seed(0))
        b = ref.step(out2, t, x, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(a[0], b[0], **TOL)
    # without the extra channels the posterior variance is used (MONAI's fall-back)
    a = ours.step(out, 700, x, generator=torch.Generator().manual_seed(0))
    b = ref.step(out, 700, x, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a[0], b[0], **TOL)


def test_step_with_strided_leading_matches_monai_and_warns():
    ours, ref = DDPMScheduler(timestep_spacing="leading"), MonaiDDPM()
    with pytest.warns(UserWarning, match="trailing"):
        ours.set_timesteps(20)
    ref.set_timesteps(20)
    x, out = _data()
    for t in ours.timesteps[:3]:
        a = ours.step(out, t, x, generator=torch.Generator().manual_seed(0))
        b = ref.step(out, t, x, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(a[0], b[0], **TOL)


def test_trailing_and_linspace_timesteps_hand_computed():
    s = DDPMScheduler(1000)
    s.set_timesteps(10, timestep_spacing="trailing")
    assert s.timesteps.tolist() == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    s.set_timesteps(3, timestep_spacing="trailing")
    assert s.timesteps.tolist() == [999, 666, 332]
    s.set_timesteps(10, timestep_spacing="linspace")
    assert s.timesteps.tolist() == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    s.set_timesteps(4, timestep_spacing="linspace")
    assert s.timesteps.tolist() == [999, 666, 333, 0]
    for spacing in ("leading", "trailing", "linspace"):  # n == T gives every timestep
        s.set_timesteps(1000, timestep_spacing=spacing)
        assert s.timesteps.tolist() == list(range(999, -1, -1))


def test_trailing_step_is_the_subsequence_posterior():
    """A strided step t -> t' is the exact posterior q(x_t' | x_t, x0) of the sub-sequence."""
    s = DDPMScheduler(1000, clip_sample=False, prediction_type="sample")
    s.set_timesteps(10, timestep_spacing="trailing")
    x, x0 = _data()
    t, tp = 599, 499
    assert s.previous_timestep(t) == tp and s.previous_timestep(99) == -1
    ab_t, ab_p = s.alphas_cumprod[t].double(), s.alphas_cumprod[tp].double()
    alpha = ab_t / ab_p
    mean = (ab_p.sqrt() * (1 - alpha) * x0 + alpha.sqrt() * (1 - ab_p) * x) / (1 - ab_t)
    var = (1 - ab_p) / (1 - ab_t) * (1 - alpha)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(5))
    prev, pred = s.step(x0, t, x, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(prev.double(), mean + var.sqrt() * noise.double(), rtol=1e-5, atol=1e-5)
    # the last step lands on the clean image without noise
    prev, pred = s.step(x0, 99, x, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(prev, x0, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="not one of the inference timesteps"):
        s.step(x0, 500, x)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_small_t_against_float64_reference(schedule):
    """Ho et al. eq. 7 evaluated in float64 from the (float32) betas: our step agrees to ~1e-6."""
    s = DDPMScheduler(schedule=schedule, prediction_type="sample", clip_sample=False)
    x, x0 = _data()
    b = s.betas.double()
    ab = torch.cumprod(1 - b, 0)
    for t in (0, 1, 5):
        abp = ab[t - 1] if t > 0 else torch.tensor(1.0, dtype=torch.float64)
        mean = (abp.sqrt() * b[t] * x0.double() + (1 - b[t]).sqrt() * (1 - abp) * x.double()) / (1 - ab[t])
        var = ((1 - abp) / (1 - ab[t]) * b[t]).clamp(min=1e-20)
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(t)).double()
        ref = mean + (var.sqrt() * noise if t > 0 else 0)
        out = s.step(x0, t, x, generator=torch.Generator().manual_seed(t))[0]
        torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=2e-6)


def test_generator_determinism_and_dtype():
    s = DDPMScheduler()
    x, out = _data()
    a = s.step(out, 500, x, generator=torch.Generator().manual_seed(1))[0]
    b = s.step(out, 500, x, generator=torch.Generator().manual_seed(1))[0]
    c = s.step(out, 500, x, generator=torch.Generator().manual_seed(2))[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    d = s.step(out.double(), torch.tensor(500), x.double(), generator=torch.Generator().manual_seed(1))[0]
    assert d.dtype == torch.float64


def test_errors():
    with pytest.raises(ValueError, match="unknown variance_type 'tiny'"):
        DDPMScheduler(variance_type="tiny")
    with pytest.raises(ValueError, match="unknown prediction_type 'noise'"):
        DDPMScheduler(prediction_type="noise")
    with pytest.raises(ValueError, match="unknown schedule 'exp'"):
        DDPMScheduler(schedule="exp")
    with pytest.raises(TypeError, match="unexpected argument"):
        DDPMScheduler(schedule="cosine", beta_start=0.1)
    s = DDPMScheduler(100)
    with pytest.raises(ValueError, match=r"num_inference_steps must lie in \[1, num_train_timesteps=100\]"):
        s.set_timesteps(101)
    with pytest.raises(ValueError, match="num_inference_steps must lie"):
        s.set_timesteps(0)
    with pytest.raises(ValueError, match="unknown timestep_spacing 'uniform'"):
        s.set_timesteps(10, timestep_spacing="uniform")
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match=r"timestep must lie in \[0, 99\]"):
        s.step(x, 100, x)
    with pytest.raises(ValueError, match="model_output shape"):
        s.step(torch.zeros(2, 1, 4, 5), 10, x)
    with pytest.raises(TypeError, match="timestep must be an int"):
        s.step(x, 1.5, x)
    with pytest.raises(ValueError, match="batch has 2"):
        s.add_noise(x, x, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"timesteps t must lie in \[0, 99\]"):
        s.add_noise(x, x, torch.tensor([1, 200]))
