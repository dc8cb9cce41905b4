"""Tests of dimedia_course.toy: the exact denoisers agree with an autograd score and with closed forms."""

import math

import pytest
import torch

from dimedia_course import make_generator
from dimedia_course.schedules import NoiseSchedule, make_beta_schedule
from dimedia_course.toy import GaussianMixture, ToyClassifier, ToyDenoiser

AC = NoiseSchedule(make_beta_schedule("linear", 1000)).alphas_cumprod


def test_score_equals_autograd_of_the_log_density():
    mix = GaussianMixture([[-1.0, 0.5], [1.2, -0.3], [0.0, 2.0]], std=0.4, weights=[0.2, 0.5, 0.3])
    x = torch.randn(64, 2, generator=make_generator(0), dtype=torch.float64).requires_grad_(True)
    for ab in (0.999, 0.5, 0.01):
        logp = torch.logsumexp(mix.log_joint(x, math.sqrt(ab), 1 - ab), dim=1)
        (auto,) = torch.autograd.grad(logp.sum(), x)
        torch.testing.assert_close(mix.score_vp(x.detach(), ab), auto, rtol=1e-10, atol=1e-10)
    sigma = 0.7
    (auto,) = torch.autograd.grad(mix.log_prob_ve(x, sigma).sum(), x)
    torch.testing.assert_close(mix.score_ve(x.detach(), sigma), auto, rtol=1e-10, atol=1e-10)


def test_log_density_is_normalised_in_1d():
    mix = GaussianMixture([[-1.0], [2.0]], std=0.5, weights=[0.3, 0.7])
    grid = torch.linspace(-8, 10, 20001, dtype=torch.float64)[:, None]
    density = mix.log_prob_ve(grid, 0.3).exp()
    assert float(torch.trapezoid(density, grid[:, 0])) == pytest.approx(1.0, abs=1e-6)


def test_gaussian_eps_closed_form():
    """One component: E[eps | x_t] = s (x_t - a mu) / (a^2 std^2 + s^2) (Gaussian posterior)."""
    mix = GaussianMixture(0.3, std=0.5, dim=16)
    model = ToyDenoiser(mix, AC)
    x = torch.randn(5, 1, 4, 4, generator=make_generator(1))
    t = torch.tensor([0, 10, 500, 900, 999])
    ab = AC.double()[t].view(-1, 1, 1, 1)
    a, s = ab.sqrt(), (1 - ab).sqrt()
    expected = s * (x.double() - a * 0.3) / (a**2 * 0.25 + s**2)
    torch.testing.assert_close(model(x, t).double(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("prediction_type", ["sample", "v_prediction"])
def test_parameterisations_are_consistent(prediction_type):
    mix = GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], std=0.3)
    x = torch.randn(8, 2, 1, 1, generator=make_generator(2))
    t = torch.randint(0, 1000, (8,), generator=make_generator(3))
    eps = ToyDenoiser(mix, AC)(x, t)
    out = ToyDenoiser(mix, AC, prediction_type)(x, t)
    from dimedia_course.losses import predict_epsilon

    torch.testing.assert_close(predict_epsilon(out, x, t, AC, prediction_type), eps, rtol=1e-4, atol=1e-4)


def test_labels_select_components_and_null_label_gives_the_mixture():
    mix = GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], std=0.3)
    model = ToyDenoiser(mix, AC)
    x, t = torch.randn(4, 2, 1, 1, generator=make_generator(4)), torch.full((4,), 300)
    torch.testing.assert_close(model(x, t, torch.full((4,), 2)), model(x, t))
    cond = model(x, t, torch.tensor([0, 1, 0, 1]))
    ab = AC.double()[300]
    comp = torch.tensor([0, 1, 0, 1])
    expected = -(1 - ab).sqrt() * mix.score_vp(x.view(4, 2).double(), ab, component=comp)
    torch.testing.assert_close(cond.view(4, 2).double(), expected, rtol=1e-5, atol=1e-6)


def test_classifier_softmax_is_the_posterior_of_the_component():
    mix = GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], std=0.3)
    clf = ToyClassifier(mix, AC)
    x = torch.tensor([[[[-1.0]], [[0.0]]], [[[1.0]], [[0.0]]]])
    p = torch.softmax(clf(x, torch.tensor([0, 0])), dim=1)
    assert p[0, 0] > 0.99 and p[1, 1] > 0.99


def test_bad_inputs():
    with pytest.raises(ValueError, match="dim"):
        GaussianMixture(0.3, std=0.5)
    with pytest.raises(ValueError, match="std"):
        GaussianMixture([[0.0]], std=0.0)
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture([[0.0], [1.0]], std=0.5, weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="prediction_type"):
        ToyDenoiser(GaussianMixture([[0.0]], std=0.5), AC, "score")


# ---------------------------------------------------------------- flow matching (straight path)
def test_flow_velocity_equals_a_monte_carlo_posterior_mean():
    """v(x, s) = E[x0 - eps | x_s = x] by self-normalised importance sampling over x0 ~ data (numpy-free
    float64 weights N(x; (1 - s) x0, s^2)), against the closed form, in 2D with three components."""
    mix = GaussianMixture([[-1.0, 0.5], [1.2, -0.3], [0.0, 2.0]], std=0.4, weights=[0.2, 0.5, 0.3])
    x0 = mix.sample(400000, generator=make_generator(11)).double()
    x = torch.tensor([[0.3, 0.2], [-0.8, 1.0], [1.0, -0.5]], dtype=torch.float64)
    for s in (0.2, 0.5, 0.8):
        a = 1 - s
        d2 = ((x[:, None, :] - a * x0[None]) ** 2).sum(-1)  # (3, N)
        w = torch.softmax(-d2 / (2 * s**2), dim=1)
        eps = (x[:, None, :] - a * x0[None]) / s  # the noise that takes x0 to x
        mc = (w[:, :, None] * (x0[None] - eps)).sum(1)
        torch.testing.assert_close(mix.flow_velocity(x, s), mc, rtol=0, atol=0.03)


def test_flow_velocity_of_a_gaussian_is_the_derivative_of_its_affine_flow():
    """One Gaussian: the flow is x_s = (1 - s) mu + sqrt((1 - s)^2 std^2 + s^2) z; v = -dx_s/ds (finite
    differences, float64)."""
    mu, std = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64), 0.3
    mix = GaussianMixture(mu, std=std)
    z = torch.randn(16, 3, generator=make_generator(12), dtype=torch.float64)

    def path(s):
        return (1 - s) * mu + math.sqrt((1 - s) ** 2 * std**2 + s**2) * z

    h = 1e-6
    for s in (0.05, 0.3, 0.7, 0.95):
        fd = -(path(s + h) - path(s - h)) / (2 * h)
        torch.testing.assert_close(mix.flow_velocity(path(s), s), fd, rtol=1e-7, atol=1e-7)


def test_flow_velocity_ends_and_components():
    mix = GaussianMixture([[-1.0], [2.0]], std=0.5)
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)[:, None]
    # s = 1 (pure noise): v = E[x0] - x; s = 0 (data): finite
    torch.testing.assert_close(mix.flow_velocity(x, 1.0), mix.means.mean() - x, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(mix.flow_velocity(x, 0.0)).all()
    # the class-conditional field of component k is the one-Gaussian field of that component
    single = GaussianMixture([[2.0]], std=0.5)
    torch.testing.assert_close(mix.flow_velocity(x, 0.4, component=1), single.flow_velocity(x, 0.4))
    with pytest.raises(ValueError, match="s must lie"):
        mix.flow_velocity(x, 1.5)
