import pytest
import torch

from dimedia_course.inversion import ddim_invert, ddim_reconstruct
from dimedia_course.schedulers import DDIMScheduler, DDPMScheduler


def _x0(seed=0):
    return 0.3 + 0.5 * torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_round_trip_error_shrinks_with_steps(gaussian_eps_model, spacing):
    sched = DDIMScheduler(1000, clip_sample=False)
    sched.set_timesteps(10, timestep_spacing=spacing)
    model = gaussian_eps_model(sched.alphas_cumprod, mean=0.3, std=0.5)
    x0 = _x0()
    errors = []
    for n in (10, 50, 200):
        x_T = ddim_invert(model, sched, x0, num_inference_steps=n)
        assert sched.timestep_spacing == spacing
        rec = ddim_reconstruct(model, sched, x_T, num_inference_steps=n)
        errors.append((rec - x0).abs().max().item())
    assert errors[1] < errors[0] / 3 and errors[2] < errors[1] / 3
    assert errors[2] < 0.05
    # the latent looks like standard normal noise
    x_T = ddim_invert(model, sched, _x0(1), num_inference_steps=50)
    assert abs(x_T.mean().item()) < 0.2 and 0.8 < x_T.std().item() < 1.2


def _constant_eps_setup():
    """A scheduler without clipping, a model whose output ignores x, and clean images."""
    sched = DDIMScheduler(100, clip_sample=False)
    eps = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(3))

    def model(x, t, y=None):
        return eps

    return sched, model, torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(4))


def test_exact_round_trip_when_eps_is_constant():
    """If the model output does not depend on x, inversion is exact for any number of steps."""
    sched, model, x0 = _constant_eps_setup()
    x_T, traj = ddim_invert(model, sched, x0, num_inference_steps=7, return_trajectory=True)
    assert len(traj) == 8 and torch.equal(traj[0], x0) and torch.equal(traj[-1], x_T)
    torch.testing.assert_close(ddim_reconstruct(model, sched, x_T, num_inference_steps=7), x0, rtol=1e-4, atol=1e-4)


def test_partial_inversion_stops_at_an_intermediate_level():
    """stop_index=k ends at the level of timesteps[k]: a prefix of the full trajectory, and DDIM steps
    from timesteps[k] decode it back (exact when the model output does not depend on x)."""
    sched, model, x0 = _constant_eps_setup()
    _, full = ddim_invert(model, sched, x0, num_inference_steps=7, return_trajectory=True)
    x_L, part = ddim_invert(model, sched, x0, num_inference_steps=7, stop_index=3, return_trajectory=True)
    assert len(part) == 7 - 3 + 1
    torch.testing.assert_close(x_L, full[len(part) - 1])
    x = x_L
    for t in sched.timesteps[3:]:
        x, _ = sched.step(model(x, t), int(t), x)
    torch.testing.assert_close(x, x0, rtol=1e-4, atol=1e-4)
    for bad in (-1, 7, 2.0, True):
        with pytest.raises(ValueError, match="stop_index"):
            ddim_invert(model, sched, x0, num_inference_steps=7, stop_index=bad)


@pytest.mark.parametrize("model_timestep", ["next", "current"])
def test_model_timestep_choice(model_timestep):
    """'next' evaluates the network at the target level t, 'current' at the level x is at."""
    sched, model, x0 = _constant_eps_setup()
    seen = []

    def recording(x, t, y=None):
        seen.append(int(t[0]))
        return model(x, t)

    ddim_invert(recording, sched, x0, num_inference_steps=5, stop_index=2, model_timestep=model_timestep)
    ascending = [int(t) for t in reversed(sched.timesteps[2:])]
    levels = [max(sched.previous_timestep(t), 0) for t in ascending]  # where x is before each step
    assert seen == (ascending if model_timestep == "next" else levels)
    with pytest.raises(ValueError, match="model_timestep"):
        ddim_invert(model, sched, x0, num_inference_steps=5, model_timestep="previous")


def test_conditional_inversion(tiny_cond_net):
    sched = DDIMScheduler(40, clip_sample=False)
    x0 = torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(0)).clamp(-1, 1) * 0.1
    y = torch.tensor([0, 1, 2])
    x_T = ddim_invert(tiny_cond_net, sched, x0, num_inference_steps=40, y=y)
    rec = ddim_reconstruct(tiny_cond_net, sched, x_T, num_inference_steps=40, y=y)
    assert (rec - x0).abs().max().item() < 0.1
    x_T2 = ddim_invert(tiny_cond_net, sched, x0, num_inference_steps=40, y=y, guidance_scale=2.0)
    assert x_T2.shape == x0.shape and not torch.allclose(x_T, x_T2)


def test_concat_condition_passed():
    seen = []

    def model(x, t, y=None):
        seen.append(x.shape[1])
        return torch.zeros_like(x[:, :1])

    sched = DDIMScheduler(50, clip_sample=False)
    x0 = torch.zeros(1, 1, 4, 4)
    ddim_invert(model, sched, x0, num_inference_steps=5, concat_condition=torch.ones(1, 2, 4, 4))
    assert seen == [3] * 5


def test_inversion_errors_and_warnings(tiny_cond_net):
    x0 = torch.zeros(1, 1, 4, 4)
    with pytest.raises(TypeError, match="needs dimedia_course.schedulers.DDIMScheduler"):
        ddim_invert(tiny_cond_net, DDPMScheduler(10), x0, num_inference_steps=5)
    with pytest.warns(UserWarning, match="clip_sample=True"):
        ddim_invert(tiny_cond_net, DDIMScheduler(10), x0, num_inference_steps=5)
    with pytest.raises(ValueError, match="needs class labels y"):
        ddim_invert(tiny_cond_net, DDIMScheduler(10, clip_sample=False), x0, 5, guidance_scale=2.0)
    with pytest.raises(ValueError, match="x0 must be a tensor"):
        ddim_invert(tiny_cond_net, DDIMScheduler(10, clip_sample=False), torch.zeros(4, 4), 5)
