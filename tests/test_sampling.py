import pytest
import torch
from monai.networks.schedulers import DDPMScheduler as MonaiDDPM

from dimedia_course.guidance import classifier_free_guidance
from dimedia_course.sampling import langevin_step, sample
from dimedia_course.schedulers import DDIMScheduler, DDPMScheduler


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("make", [lambda: DDPMScheduler(20), lambda: DDIMScheduler(20)])
def test_shape_determinism_and_trajectory(tiny_cond_net, make):
    sched = make()
    a = sample(tiny_cond_net, sched, (2, 1, 8, 8), generator=_gen(1))
    b = sample(tiny_cond_net, sched, (2, 1, 8, 8), generator=_gen(1))
    c = sample(tiny_cond_net, sched, (2, 1, 8, 8), generator=_gen(2))
    assert a.shape == (2, 1, 8, 8) and torch.equal(a, b) and not torch.equal(a, c)
    x, traj = sample(tiny_cond_net, sched, (2, 1, 8, 8), generator=_gen(1), return_trajectory=True)
    assert len(traj) == len(sched.timesteps) + 1 and torch.equal(traj[-1], x) and torch.equal(x, a)
    assert traj[0].shape == (2, 1, 8, 8)


def test_num_inference_steps_keeps_spacing_and_eta(tiny_cond_net):
    sched = DDIMScheduler(100)
    sched.set_timesteps(10, timestep_spacing="trailing")
    _, traj = sample(
        tiny_cond_net, sched, (1, 1, 4, 4), num_inference_steps=5, generator=_gen(), return_trajectory=True
    )
    assert len(traj) == 6 and sched.timestep_spacing == "trailing" and sched.timesteps[0] == 99
    a = sample(tiny_cond_net, sched, (1, 1, 4, 4), eta=1.0, generator=_gen())
    b = sample(tiny_cond_net, sched, (1, 1, 4, 4), eta=0.0, generator=_gen())
    assert not torch.equal(a, b)


def test_x_T_is_used_and_calls_the_model_per_step(tiny_cond_net):
    sched = DDIMScheduler(100)
    sched.set_timesteps(7)
    x_T = torch.randn(2, 1, 4, 4, generator=_gen())
    tiny_cond_net.calls = 0
    out = sample(tiny_cond_net, sched, x_T=x_T)
    assert tiny_cond_net.calls == 7
    ref = x_T.clone()
    for t in sched.timesteps:
        ref = sched.step(tiny_cond_net(ref, torch.full((2,), int(t))), t, ref)[0]
    torch.testing.assert_close(out, ref)


def test_guidance_and_labels(tiny_cond_net):
    sched = DDIMScheduler(100)
    sched.set_timesteps(5)
    x_T = torch.randn(3, 1, 4, 4, generator=_gen())
    y = torch.tensor([0, 1, 2])
    tiny_cond_net.calls = 0
    guided = sample(tiny_cond_net, sched, x_T=x_T, y=y, guidance_scale=3.0)
    assert tiny_cond_net.calls == 5  # one batched call per step (null label read from model.num_classes)
    ref = x_T.clone()
    for t in sched.timesteps:
        out = classifier_free_guidance(tiny_cond_net, ref, int(t), y, 3.0, 3)
        ref = sched.step(out, t, ref)[0]
    torch.testing.assert_close(guided, ref)
    cond = sample(tiny_cond_net, sched, x_T=x_T, y=y)
    assert not torch.allclose(cond, guided)

    def bare(x, t, y=None):  # no num_classes attribute
        return tiny_cond_net(x, t, y)

    with pytest.raises(ValueError, match="pass null_label"):
        sample(bare, sched, x_T=x_T, y=y, guidance_scale=2.0)
    torch.testing.assert_close(sample(bare, sched, x_T=x_T, y=y, guidance_scale=3.0, null_label=3), guided)


def test_concat_condition():
    seen = []

    def model(x, t, y=None):
        seen.append(x.shape)
        return x[:, :1] - x[:, 1:]

    sched = DDIMScheduler(20)
    sched.set_timesteps(4)
    cond = torch.ones(2, 1, 4, 4)
    out = sample(model, sched, (2, 1, 4, 4), generator=_gen(), concat_condition=cond)
    assert out.shape == (2, 1, 4, 4) and seen == [(2, 2, 4, 4)] * 4
    with pytest.raises(ValueError, match=r"concat_condition must be shaped \(2, Cc, 4, 4\)"):
        sample(model, sched, (2, 1, 4, 4), concat_condition=torch.ones(2, 1, 5, 5))


def test_works_with_monai_scheduler(tiny_cond_net):
    ours, ref = DDPMScheduler(20), MonaiDDPM(20)
    a = sample(tiny_cond_net, ours, (1, 1, 4, 4), generator=_gen(3))
    b = sample(tiny_cond_net, ref, (1, 1, 4, 4), generator=_gen(3))
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)


def test_progress_and_train_mode_restored(tiny_cond_net):
    tiny_cond_net.train()
    sched = DDIMScheduler(10)
    sample(tiny_cond_net, sched, (1, 1, 4, 4), generator=_gen(), progress=True)
    assert tiny_cond_net.training


def test_errors(tiny_cond_net):
    sched = DDPMScheduler(10)
    with pytest.raises(ValueError, match="give either shape"):
        sample(tiny_cond_net, sched)
    with pytest.raises(ValueError, match="does not match x_T.shape"):
        sample(tiny_cond_net, sched, (1, 1, 4, 4), x_T=torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="needs class labels y"):
        sample(tiny_cond_net, sched, (1, 1, 4, 4), guidance_scale=2.0)
    with pytest.raises(ValueError, match="only meaningful for DDIM"):
        sample(tiny_cond_net, sched, (1, 1, 4, 4), eta=0.5)
    with pytest.raises(ValueError, match=r"y must be shaped \(1,\)"):
        sample(tiny_cond_net, sched, (1, 1, 4, 4), y=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="shape must be"):
        sample(tiny_cond_net, sched, (4, 4))


def test_langevin_step_reaches_the_stationary_law_of_the_discretised_chain():
    """With the score -x of N(0, 1) one step is x <- (1 - eta / 2) x + sqrt(eta) z, an AR(1) chain whose stationary
    variance is 1 / (1 - eta / 4) exactly (not 1: the discretisation bias of unadjusted Langevin); float64."""
    g, eta = _gen(3), 0.5
    x = torch.zeros(100_000, 1, dtype=torch.float64)
    for _ in range(60):
        x = langevin_step(x, -x, eta, generator=g)
    assert x.var().item() == pytest.approx(1 / (1 - eta / 4), rel=0.02)
    assert abs(x.mean().item()) < 0.02
    z = torch.tensor([[0.3], [-1.0]], dtype=torch.float64)
    x0 = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    torch.testing.assert_close(langevin_step(x0, -x0, 0.1, noise=z), x0 - 0.05 * x0 + 0.1**0.5 * z)
    with pytest.raises(ValueError, match="shape"):
        langevin_step(x0, x0[:1], 0.1)
    with pytest.raises(ValueError, match="step_size"):
        langevin_step(x0, x0, 0.0)
