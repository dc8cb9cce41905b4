"""Tests for dimedia_course.training and dimedia_course.checkpoint."""

import copy

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from dimedia_course import make_generator
from dimedia_course.checkpoint import save_atomically
from dimedia_course.nn import SmallUNet
from dimedia_course.training import ema_update, load_checkpoint, save_checkpoint, train_diffusion

AC = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000), 0)


def tiny(**kw):
    kw.setdefault("base_channels", 8)
    return SmallUNet(channel_mults=(1, 2), attention_levels=(False, False), **kw)


def data(n=16, size=8, seed=0):
    return torch.rand(n, 1, size, size, generator=make_generator(seed)) * 2 - 1


class Sched:
    """Stand-in for a scheduler: only alphas_cumprod and prediction_type are used."""

    alphas_cumprod = AC
    prediction_type = "v_prediction"


def test_loss_decreases_and_history():
    torch.manual_seed(0)
    model = tiny()
    x = torch.zeros(32, 1, 8, 8)  # a single "image": easy to fit
    hist = train_diffusion(model, x, AC, steps=30, batch_size=8, lr=3e-3, progress=False, device="cpu")
    assert len(hist["loss"]) == hist["steps"] == 30 and hist["seconds"] > 0
    assert sum(hist["loss"][-5:]) / 5 < sum(hist["loss"][:5]) / 5
    assert not model.training


def test_reproducible_with_seed():
    losses = []
    for _ in range(2):
        torch.manual_seed(0)  # same initial weights
        model = tiny()
        losses.append(train_diffusion(model, data(), AC, steps=3, seed=7, progress=False)["loss"])
    assert losses[0] == losses[1]


def test_prediction_type_from_scheduler_and_epochs():
    hist = train_diffusion(tiny(), data(10), Sched(), epochs=2, batch_size=4, progress=False)
    assert hist["prediction_type"] == "v_prediction"
    assert hist["steps"] == 2 * 3 == len(hist["loss"])


def test_dataloader_with_labels_and_cfg_dropout():
    pytest.importorskip("dimedia_course.guidance")
    x, y = data(8), torch.tensor([0, 1] * 4)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    model = tiny(num_classes=2)
    hist = train_diffusion(model, loader, AC, epochs=1, p_uncond=0.5, progress=False)
    assert hist["steps"] == 2
    hist = train_diffusion(model, x, AC, labels=y, steps=2, p_uncond=0.2, progress=False)
    assert len(hist["loss"]) == 2


def test_concat_condition_tensor_and_loader():
    masks, images = data(8), data(8, seed=1)
    model = tiny(in_channels=2)
    train_diffusion(model, masks, AC, steps=2, concat_condition=images, progress=False)
    loader = DataLoader(TensorDataset(masks, images), batch_size=4)
    hist = train_diffusion(model, loader, AC, steps=3, concat_condition=True, progress=False)
    assert len(hist["loss"]) == 3


def test_ema_model():
    model = tiny()
    hist = train_diffusion(model, data(), AC, steps=3, ema_decay=0.9, progress=False)
    ema = hist["ema_model"]
    assert isinstance(ema, SmallUNet)
    diff = [(a - b).abs().max() for a, b in zip(ema.parameters(), model.parameters())]
    assert max(diff) > 0


def test_ema_update_matches_a_float64_average_and_copies_buffers():
    """theta_ema <- d theta_ema + (1 - d) theta per parameter (Ho et al. 2020, app. B), computed by hand in
    float64; buffers (BatchNorm running statistics, the batch counter) are copied, not averaged."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    ema = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    model(torch.randn(8, 3))  # training mode: running_mean, running_var and num_batches_tracked move
    decay = 0.9
    before = [p.detach().double().clone() for p in ema.parameters()]
    ema_update(ema, model, decay)
    for old, p_ema, p in zip(before, ema.parameters(), model.parameters()):
        expected = decay * old + (1 - decay) * p.detach().double()
        torch.testing.assert_close(p_ema.double(), expected, rtol=0, atol=1e-6)
    bn_ema, bn = ema[1], model[1]
    assert bn.running_mean.abs().max() > 0  # the buffer did move away from its initial zeros
    assert torch.equal(bn_ema.running_mean, bn.running_mean) and torch.equal(bn_ema.running_var, bn.running_var)
    assert int(bn_ema.num_batches_tracked) == 1
    with pytest.raises(ValueError):
        ema_update(torch.nn.Linear(3, 4, bias=False), torch.nn.Linear(3, 4), decay)  # not a copy of the model


def test_save_atomically_replaces_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = save_atomically({"a": 1}, tmp_path / "sub" / "x.pt")
    assert torch.load(path, weights_only=True) == {"a": 1}
    save_atomically({"a": 2}, path)
    assert torch.load(path, weights_only=True) == {"a": 2} and sorted(p.name for p in path.parent.iterdir()) == ["x.pt"]

    def killed(obj, f):  # a write that fails half-way
        open(f, "wb").write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_atomically({"a": 3}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"a": 2} and sorted(p.name for p in path.parent.iterdir()) == ["x.pt"]


def test_cosine_lr_schedule_decays_to_five_percent():
    model = tiny()
    hist = train_diffusion(model, data(), AC, steps=4, lr=1e-3, lr_schedule="cosine", progress=False)
    assert hist["optimizer"].param_groups[0]["lr"] == pytest.approx(5e-5)
    hist = train_diffusion(tiny(), data(), AC, steps=4, lr=1e-3, progress=False)
    assert hist["optimizer"].param_groups[0]["lr"] == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="lr_schedule"):
        train_diffusion(model, data(), AC, steps=1, lr_schedule="step", progress=False)


def test_bad_arguments():
    model = tiny()
    with pytest.raises(ValueError, match="exactly one"):
        train_diffusion(model, data(), AC, progress=False)
    with pytest.raises(ValueError, match="p_uncond"):
        train_diffusion(model, data(), AC, steps=1, p_uncond=0.1, progress=False)
    with pytest.raises(ValueError, match="labels"):
        train_diffusion(tiny(num_classes=2), data(4), AC, steps=1, labels=torch.zeros(3), progress=False)
    with pytest.raises(TypeError, match="data"):
        train_diffusion(model, [1, 2, 3], AC, steps=1, progress=False)
    with pytest.raises(ValueError, match="concat_condition"):
        train_diffusion(model, data(4), AC, steps=1, concat_condition=data(3), progress=False)


def test_checkpoint_roundtrip(tmp_path):
    model = tiny(num_classes=3)
    path = save_checkpoint(tmp_path / "sub" / "m.pt", model, config={"base_channels": 8}, steps=10)
    other = tiny(num_classes=3)
    ckpt = load_checkpoint(path, other)
    assert ckpt["meta"] == {"config": {"base_channels": 8}, "steps": 10}
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_errors(tmp_path):
    model = tiny()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt", model)
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(bad, model)
    path = save_checkpoint(tmp_path / "m.pt", model)
    with pytest.raises(ValueError, match="shape mismatch"):
        load_checkpoint(path, tiny(base_channels=16))
    with pytest.raises(ValueError, match="missing parameters"):
        load_checkpoint(path, tiny(num_classes=2))
    with pytest.raises(TypeError, match="metadata"):
        save_checkpoint(tmp_path / "x.pt", model, weights=torch.zeros(2))


def test_end_to_end_with_course_scheduler_and_sampler(tmp_path):
    schedulers = pytest.importorskip("dimedia_course.schedulers")
    sampling = pytest.importorskip("dimedia_course.sampling")
    scheduler = schedulers.DDIMScheduler(num_train_timesteps=100)
    model = tiny(num_classes=2)
    hist = train_diffusion(
        model, data(8), scheduler, labels=torch.tensor([0, 1] * 4), steps=2, p_uncond=0.2, progress=False
    )
    assert hist["prediction_type"] == "epsilon"
    path = save_checkpoint(tmp_path / "m.pt", model, num_classes=2)
    restored = tiny(num_classes=2)
    load_checkpoint(path, restored)
    out = sampling.sample(
        restored,
        scheduler,
        (2, 1, 8, 8),
        y=torch.tensor([0, 1]),
        guidance_scale=2.0,
        num_inference_steps=3,
        generator=make_generator(0),
        device="cpu",
    )
    assert out.shape == (2, 1, 8, 8) and torch.isfinite(out).all()


def test_cosine_lr_matches_torch_cosine_annealing():
    """The one cosine formula (issue 17) against PyTorch's CosineAnnealingLR, an independent implementation."""
    from dimedia_course.training import cosine_lr

    for min_ratio in (0.0, 0.05):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=0.3)
        ref = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=min_ratio * 0.3)
        for k in range(11):
            assert abs(cosine_lr(k, 10, 0.3, min_ratio) - opt.param_groups[0]["lr"]) < 1e-12
            opt.step()
            ref.step()


def test_optimisation_step_is_sgd_on_the_clipped_gradient_then_the_ema():
    """Against the update written out by hand in float64: w <- w - lr * g * min(1, c / (|g| + 1e-6)), then
    ema <- d ema + (1 - d) w; an AMP scaler that is disabled changes nothing."""
    from dimedia_course.training import optimisation_step

    for scaler in (None, torch.amp.GradScaler("cuda", enabled=False)):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2).double()
        ema = copy.deepcopy(model)
        with torch.no_grad():
            ema.weight.add_(1.0)  # an EMA that differs from the model
        x = torch.randn(5, 3, dtype=torch.float64)
        w0, ema0 = model.weight.detach().clone(), ema.weight.detach().clone()
        grads = torch.autograd.grad(model(x).pow(2).sum(), list(model.parameters()))
        norm = torch.sqrt(sum((g**2).sum() for g in grads))
        expected = w0 - 0.1 * grads[0] * min(1.0, 0.5 / (float(norm) + 1e-6))  # (clip_grad_norm_ adds 1e-6)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        optimisation_step(
            model(x).pow(2).sum(),
            opt,
            list(model.parameters()),
            grad_clip=0.5,
            scaler=scaler,
            ema=ema,
            model=model,
            ema_decay=0.9,
        )
        torch.testing.assert_close(model.weight.detach(), expected, rtol=0, atol=1e-12)
        torch.testing.assert_close(ema.weight.detach(), 0.9 * ema0 + 0.1 * expected, rtol=0, atol=1e-12)


def test_each_step_draws_batch_timesteps_and_noise_from_its_own_generator():
    """The documented rule of both loops, re-derived by hand: step k seeds torch.Generator with
    seed * 1_000_003 + k and draws, in this order, the batch indices (with replacement), t ~ U{0..T-1} and the
    noise; the network sees x_t = sqrt(abar_t) x_0[idx] + sqrt(1 - abar_t) eps (float64 here)."""
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t, y=None):
            seen.append((x.detach().double().clone(), t.clone()))
            return x * self.w

    images, seed, batch = data(n=10), 5, 4
    train_diffusion(Recorder(), images, AC, steps=3, batch_size=batch, seed=seed, progress=False, device="cpu")
    ac = AC.double()
    for k, (x_t, t) in enumerate(seen):
        g = torch.Generator().manual_seed(seed * 1_000_003 + k)
        idx = torch.randint(0, 10, (batch,), generator=g)
        t_k = torch.randint(0, 1000, (batch,), generator=g)
        eps = torch.randn((batch, 1, 8, 8), generator=g).double()
        expected = ac[t_k].sqrt()[:, None, None, None] * images[idx].double()
        expected = expected + (1 - ac[t_k]).sqrt()[:, None, None, None] * eps
        assert torch.equal(t, t_k)
        torch.testing.assert_close(x_t, expected, rtol=0, atol=1e-6)
