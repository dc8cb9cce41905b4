import pytest
import torch
import torch.nn as nn

from dimedia_course.guidance import (
    ClassifierFreeGuidedModel,
    ClassifierGuidedModel,
    classifier_free_guidance,
    classifier_gradient,
    drop_labels,
)
from dimedia_course.schedules import NoiseSchedule


def _x(seed=0):
    return torch.randn(3, 1, 6, 6, generator=torch.Generator().manual_seed(seed))


def test_cfg_scale_one_zero_and_single_call(tiny_cond_net):
    x, t, y = _x(), torch.tensor([5, 50, 500]), torch.tensor([0, 1, 2])
    cond, uncond = tiny_cond_net(x, t, y), tiny_cond_net(x, t, torch.full_like(y, 3))
    tiny_cond_net.calls = 0
    torch.testing.assert_close(classifier_free_guidance(tiny_cond_net, x, t, y, 1.0, 3), cond)
    assert tiny_cond_net.calls == 1  # one batched forward pass
    torch.testing.assert_close(classifier_free_guidance(tiny_cond_net, x, t, y, 0.0, 3), uncond)
    out = classifier_free_guidance(tiny_cond_net, x, 7, y, 3.0, 3)  # int t broadcasts
    t7 = torch.full((3,), 7)
    ref = tiny_cond_net(x, t7, torch.full_like(y, 3))
    ref = ref + 3.0 * (tiny_cond_net(x, t7, y) - ref)
    torch.testing.assert_close(out, ref)


def test_cfg_wrapper(tiny_cond_net):
    x, t, y = _x(), torch.tensor([1, 2, 3]), torch.tensor([0, 1, 2])
    wrapped = ClassifierFreeGuidedModel(tiny_cond_net, 2.0, null_label=3)
    torch.testing.assert_close(wrapped(x, t, y), classifier_free_guidance(tiny_cond_net, x, t, y, 2.0, 3))
    torch.testing.assert_close(wrapped(x, t), tiny_cond_net(x, t))


def test_drop_labels():
    y = torch.arange(1000) % 5
    g = torch.Generator().manual_seed(0)
    dropped = drop_labels(y, 0.2, null_label=5, generator=g)
    frac = (dropped == 5).float().mean().item()
    assert 0.15 < frac < 0.25
    kept = dropped != 5
    assert torch.equal(dropped[kept], y[kept]) and torch.equal(y, torch.arange(1000) % 5)
    assert torch.equal(drop_labels(y, 0.0, 5), y)
    assert bool((drop_labels(y, 1.0, 5) == 5).all())
    again = drop_labels(y, 0.2, null_label=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(dropped, again)
    with pytest.raises(ValueError, match=r"p_uncond must lie in \[0, 1\]"):
        drop_labels(y, 1.5, 5)
    with pytest.raises(TypeError, match="integer tensor"):
        drop_labels(y.float(), 0.1, 5)


class LinearClassifier(nn.Module):
    """logits = W flatten(x) + b: log p(y|x) has the analytic gradient W_y - sum_k p_k W_k."""

    def __init__(self, d, k=3):
        super().__init__()
        self.lin = nn.Linear(d, k)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(k, d, generator=torch.Generator().manual_seed(1)) * 0.3)

    def forward(self, x, t):
        return self.lin(x.flatten(1))


def test_classifier_gradient_analytic_and_finite_differences():
    x, y = _x(), torch.tensor([0, 2, 1])
    clf = LinearClassifier(36)
    with torch.no_grad():  # works inside no_grad sampling loops
        grad = classifier_gradient(clf, x, 10, y)
    assert not grad.requires_grad and grad.shape == x.shape
    W = clf.lin.weight
    p = torch.softmax(clf(x, None), -1)
    analytic = (W[y] - p @ W).detach().reshape(x.shape)
    torch.testing.assert_close(grad, analytic, rtol=1e-4, atol=1e-5)
    # central finite difference on one pixel in double precision
    clf64, x64 = LinearClassifier(36).double(), x.double()
    g64 = classifier_gradient(clf64, x64, 10, y)
    h, idx = 1e-6, (1, 0, 2, 3)

    def logp(z):
        return torch.log_softmax(clf64(z, None), -1)[1, y[1]].item()

    xp, xm = x64.clone(), x64.clone()
    xp[idx] += h
    xm[idx] -= h
    assert g64[idx].item() == pytest.approx((logp(xp) - logp(xm)) / (2 * h), rel=1e-5)


def test_classifier_guided_model():
    sched = NoiseSchedule.from_name("linear", 100)
    x, t, y = _x(), torch.tensor([10, 50, 99]), torch.tensor([0, 1, 2])
    clf = LinearClassifier(36)

    def eps_model(z, tt):
        return 0.5 * z

    guided = ClassifierGuidedModel(eps_model, clf, sched.alphas_cumprod, scale=2.0)
    with torch.no_grad():
        out = guided(x, t, y)
    sigma = (1 - sched.alphas_cumprod[t]).sqrt().view(-1, 1, 1, 1)
    ref = 0.5 * x - 2.0 * sigma * classifier_gradient(clf, x, t, y)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(guided(x, t), 0.5 * x)  # no label: unguided


def test_guidance_errors(tiny_cond_net):
    x = _x()
    with pytest.raises(ValueError, match=r"y must be shaped \(3,\)"):
        classifier_free_guidance(tiny_cond_net, x, 1, torch.tensor([0, 1]), 2.0, 3)
    with pytest.raises(TypeError, match="integer class labels"):
        classifier_free_guidance(tiny_cond_net, x, 1, torch.zeros(3), 2.0, 3)
    with pytest.raises(ValueError, match=r"t must be a scalar or shaped \(B,\) = \(3,\)"):
        classifier_gradient(LinearClassifier(36), x, torch.tensor([1, 2]), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="logits shaped"):
        classifier_gradient(lambda z, t: z, x, 1, torch.tensor([0, 1, 2]))


def test_cfg_takes_float_flow_times_and_integer_ddpm_times():
    """CFG of a velocity model at a rectified flow's continuous time (a float) and of a DDPM model at an
    integer timestep: the same ``uncond + s (cond - uncond)`` (Ho & Salimans 2022, eq. 6), computed here by
    hand from two separate calls; the float time reaches the model unrounded."""
    seen = []

    def net(x, t, y):
        seen.append(t)
        return x * (1 + t.double()[:, None, None, None] / 1000).to(x.dtype) + y[:, None, None, None].to(x.dtype)

    x, y = _x(), torch.tensor([0, 1, 2])
    for t in (437.25, torch.tensor([0.5, 250.75, 999.0]), 7, torch.tensor([5, 50, 500])):
        out = classifier_free_guidance(net, x, t, y, 2.5, 3)
        tt = torch.as_tensor(t).expand(3)
        cond, uncond = net(x, tt, y), net(x, tt, torch.full_like(y, 3))
        torch.testing.assert_close(out, uncond + 2.5 * (cond - uncond))
        assert seen[0].dtype == (torch.float32 if tt.dtype.is_floating_point else torch.long)
        torch.testing.assert_close(seen[0][:3].double(), tt.double())
        seen.clear()
    wrapped = ClassifierFreeGuidedModel(lambda x, t, y=None: x * t.float()[:, None, None, None], 2.0, 3)
    torch.testing.assert_close(wrapped(x, 0.25), x * 0.25)
    with pytest.raises(TypeError, match="real timesteps"):
        classifier_free_guidance(net, x, torch.tensor([True, False, True]), y, 2.0, 3)


def test_small_unet_takes_float_flow_times():
    from dimedia_course.nn import SmallUNet

    torch.manual_seed(0)
    net = SmallUNet(base_channels=8, channel_mults=(1, 2), attention_levels=(False, False), num_classes=3).eval()
    x, y = torch.randn(2, 1, 8, 8), torch.tensor([0, 3])
    with torch.no_grad():
        a, b = net(x, torch.tensor([300.0, 300.0]), y), net(x, torch.tensor([300, 300]), y)
        torch.testing.assert_close(a, b)  # an integer-valued float time is that integer
        guided = ClassifierFreeGuidedModel(net, 3.0, 3)(x, 300.5, torch.tensor([1, 2]))
    assert guided.shape == x.shape and torch.isfinite(guided).all()
