import pytest
import torch
from monai.networks.schedulers import DDIMScheduler as MonaiDDIM

from dimedia_course.schedulers import DDIMScheduler

TOL = dict(rtol=1e-4, atol=1e-5)
LOOSE = dict(rtol=1e-3, atol=2e-3)  # MONAI float32 cancellation in 1 - alphabar_t near t = 0


def _data(shape=(2, 1, 4, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g), torch.randn(shape, generator=g)


@pytest.mark.parametrize("n", [1, 10, 33, 50, 1000])
@pytest.mark.parametrize("offset", [0, 1])
def test_leading_timesteps_equal_monai(n, offset):
    ours, ref = DDIMScheduler(steps_offset=offset, timestep_spacing="leading"), MonaiDDIM(steps_offset=offset)
    assert torch.equal(ours.timesteps, ref.timesteps)  # set in __init__ too
    ours.set_timesteps(n)
    ref.set_timesteps(n)
    assert torch.equal(ours.timesteps, ref.timesteps)


@pytest.mark.parametrize("schedule", ["linear_beta", "scaled_linear_beta", "cosine"])
@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("n", [10, 50])
def test_step_eta0_matches_monai(schedule, prediction_type, clip, n):
    kw = dict(schedule=schedule, prediction_type=prediction_type, clip_sample=clip)
    ours, ref = DDIMScheduler(1000, **kw, timestep_spacing="leading"), MonaiDDIM(1000, **kw)
    ours.set_timesteps(n)
    ref.set_timesteps(n)
    x, out = _data()
    for t in ours.timesteps[[0, n // 2, -1]]:
        a, b = ours.step(out, t, x), ref.step(out, t, x)
        torch.testing.assert_close(a[1], b[1], **TOL)
        torch.testing.assert_close(a[0], b[0], **TOL)


@pytest.mark.parametrize("eta", [0.5, 1.0])
@pytest.mark.parametrize("set_alpha_to_one, offset", [(True, 0), (False, 1)])
def test_step_eta_positive_matches_monai(eta, set_alpha_to_one, offset):
    kw = dict(set_alpha_to_one=set_alpha_to_one, steps_offset=offset, clip_sample=False)
    ours, ref = DDIMScheduler(**kw, timestep_spacing="leading"), MonaiDDIM(**kw)
    ours.set_timesteps(20)
    ref.set_timesteps(20)
    x, out = _data()
    for t in ours.timesteps[[0, 10, -1]]:
        a = ours.step(out, t, x, eta=eta, generator=torch.Generator().manual_seed(3))
        b = ref.step(out, t, x, eta=eta, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(a[0], b[0], **TOL)  # MONAI draws the noise the same way
        # the mean (eta > 0 without the noise term) also matches Song et al. eq. 12 by hand
        ab_t = ours.alphas_cumprod[t]
        prev = int(t) - 1000 // 20
        ab_p = ours.alphas_cumprod[prev] if prev >= 0 else ours.final_alpha_cumprod
        sigma = eta * ((1 - ab_p) / (1 - ab_t) * (1 - ab_t / ab_p)).sqrt()
        x0 = (x - (1 - ab_t).sqrt() * out) / ab_t.sqrt()
        mean = ab_p.sqrt() * x0 + (1 - ab_p - sigma**2).sqrt() * out
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(a[0], mean + sigma * noise, **TOL)


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("clip", [True, False])
def test_reversed_step_matches_monai(prediction_type, clip):
    kw = dict(prediction_type=prediction_type, clip_sample=clip)
    ours, ref = DDIMScheduler(**kw, timestep_spacing="leading"), MonaiDDIM(**kw)
    ours.set_timesteps(50)
    ref.set_timesteps(50)
    x, out = _data()
    for t in (0, 20, 500, 959):
        a, b = ours.reversed_step(out, t, x), ref.reversed_step(out, t, x)
        torch.testing.assert_close(a[0], b[0], **TOL)
        torch.testing.assert_close(a[1], b[1], **TOL)
    with pytest.raises(ValueError, match="nowhere to go"):
        ours.reversed_step(out, 999, x)


def test_reversed_step_inverts_step_for_constant_eps():
    """With an eps that does not depend on x, reversed_step undoes step exactly (eta = 0)."""
    for spacing in ("leading", "trailing", "linspace"):
        s = DDIMScheduler(clip_sample=False)
        s.set_timesteps(25, timestep_spacing=spacing)
        x, eps = _data()
        for t in s.timesteps[[0, 12, -1]]:
            prev = s.previous_timestep(t)
            x_prev, _ = s.step(eps, t, x)
            back, _ = s.reversed_step(eps, prev, x_prev, next_timestep=t)
            torch.testing.assert_close(back, x, rtol=1e-4, atol=1e-4)


def test_trailing_and_linspace_steps_are_consistent():
    s = DDIMScheduler(1000, clip_sample=False)
    s.set_timesteps(10, timestep_spacing="trailing")
    assert s.timesteps.tolist() == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    assert [s.previous_timestep(t) for t in s.timesteps] == s.timesteps.tolist()[1:] + [-1]
    assert s.next_timestep(-1) == 99 and s.next_timestep(899) == 999
    x, eps = _data()
    prev, x0 = s.step(eps, 599, x)
    ab_t, ab_p = s.alphas_cumprod[599], s.alphas_cumprod[499]
    x0_ref = (x - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
    torch.testing.assert_close(prev, ab_p.sqrt() * x0_ref + (1 - ab_p).sqrt() * eps, **TOL)
    prev, x0 = s.step(eps, 99, x)  # the last step goes to the clean image
    torch.testing.assert_close(prev, x0, **TOL)
    s.set_timesteps(4, timestep_spacing="linspace")
    assert s.timesteps.tolist() == [999, 666, 333, 0]
    assert s.previous_timestep(333) == 0 and s.previous_timestep(0) == -1
    # trailing / linspace ignore steps_offset, as in diffusers
    s2 = DDIMScheduler(1000, steps_offset=1, timestep_spacing="leading")
    s2.set_timesteps(4, timestep_spacing="linspace")
    assert s2.timesteps.tolist() == [999, 666, 333, 0]


def test_full_eta0_chain_matches_monai():
    ours, ref = DDIMScheduler(clip_sample=False, timestep_spacing="leading"), MonaiDDIM(clip_sample=False)
    ours.set_timesteps(10)
    ref.set_timesteps(10)
    x, _ = _data()
    a, b = x.clone(), x.clone()
    for t in ours.timesteps:
        a = ours.step(0.1 * a, t, a)[0]
        b = ref.step(0.1 * b, t, b)[0]
    torch.testing.assert_close(a, b, **TOL)


def test_errors_and_device_dtype():
    s = DDIMScheduler(100)
    x = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
    assert s.step(x, 50, x)[0].dtype == torch.float64
    with pytest.raises(ValueError, match="steps_offset must lie in"):
        DDIMScheduler(100, steps_offset=100)
    with pytest.raises(ValueError, match="unknown prediction_type"):
        DDIMScheduler(prediction_type="score")
    with pytest.raises(ValueError, match="eta must be >= 0"):
        s.step(x, 50, x, eta=-1.0)
    with pytest.raises(ValueError, match=r"timestep must lie in \[0, 99\]"):
        s.step(x, -1, x)
    with pytest.raises(ValueError, match="model_output shape"):
        s.reversed_step(x[:1], 10, x)
    with pytest.raises(ValueError, match=r"next timestep must lie in \(10, 99\]"):
        s.reversed_step(x, 10, x, next_timestep=5)
