import numpy as np
import pytest
import torch
from scipy.stats import norm

from dimedia_course.forward import q_sample
from dimedia_course.losses import (
    PREDICTION_TYPES,
    diffusion_loss,
    get_velocity,
    predict_epsilon,
    predict_x0,
    score_from_epsilon,
    training_target,
    vlb_weight,
    x0_error_weight,
)
from dimedia_course.schedules import NoiseSchedule


@pytest.fixture
def setup():
    g = torch.Generator().manual_seed(0)
    sched = NoiseSchedule.from_name("cosine", 100)
    x0 = torch.randn(4, 1, 5, 5, generator=g)
    noise = torch.randn(4, 1, 5, 5, generator=g)
    t = torch.tensor([0, 10, 50, 99])
    return sched.alphas_cumprod, x0, noise, t


def test_velocity_definition(setup):
    ac, x0, noise, t = setup
    v = get_velocity(x0, noise, t, ac)
    ab = ac[t].view(-1, 1, 1, 1)
    torch.testing.assert_close(v, ab.sqrt() * noise - (1 - ab).sqrt() * x0)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_conversions_recover_x0_and_noise(setup, prediction_type):
    ac, x0, noise, t = setup
    xt = q_sample(x0, t, noise, ac)
    target = training_target(x0, noise, t, ac, prediction_type)
    # the perfect prediction recovers x0 and eps exactly (up to float32 precision at t=99)
    torch.testing.assert_close(predict_x0(target, xt, t, ac, prediction_type)[:3], x0[:3], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(predict_epsilon(target, xt, t, ac, prediction_type)[1:], noise[1:], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_loss_zero_for_oracle_and_positive_otherwise(setup, prediction_type):
    ac, x0, noise, t = setup

    def oracle(x, tt, y=None):
        return training_target(x0, noise, tt, ac, prediction_type)

    assert diffusion_loss(oracle, x0, ac, prediction_type, t=t, noise=noise).item() == pytest.approx(0, abs=1e-12)
    zero = diffusion_loss(lambda x, tt: torch.zeros_like(x), x0, ac, prediction_type, t=t, noise=noise)
    target = training_target(x0, noise, t, ac, prediction_type)
    assert zero.item() == pytest.approx(target.pow(2).mean().item(), rel=1e-5)


def test_loss_sampling_reductions_and_condition(setup):
    ac, x0, _, _ = setup
    seen = {}

    def model(x, t, y=None):
        seen["x"], seen["t"], seen["y"] = x, t, y
        return x[:, :1] * 0.5

    y = torch.tensor([0, 1, 2, 0])
    cond = torch.ones(4, 2, 5, 5)
    l1 = diffusion_loss(model, x0, ac, y=y, generator=torch.Generator().manual_seed(3), concat_condition=cond)
    assert seen["x"].shape == (4, 3, 5, 5) and seen["y"] is y and seen["t"].dtype == torch.long
    assert bool((seen["x"][:, 1:] == 1).all())
    l2 = diffusion_loss(model, x0, ac, y=y, generator=torch.Generator().manual_seed(3), concat_condition=cond)
    assert l1.ndim == 0 and l1.item() == l2.item()  # same generator, same loss
    per = diffusion_loss(model, x0, ac, generator=torch.Generator().manual_seed(3), reduction="none")
    tot = diffusion_loss(model, x0, ac, generator=torch.Generator().manual_seed(3), reduction="sum")
    assert per.shape == (4,) and tot.item() == pytest.approx(per.sum().item(), rel=1e-6)


def test_loss_backpropagates(setup):
    ac, x0, _, _ = setup
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    loss = diffusion_loss(lambda x, t: net(x), x0, ac, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert net.weight.grad is not None and torch.isfinite(net.weight.grad).all()


def test_loss_errors(setup):
    ac, x0, noise, t = setup
    with pytest.raises(ValueError, match="unknown prediction_type 'score'"):
        training_target(x0, noise, t, ac, "score")
    with pytest.raises(ValueError, match="unknown reduction"):
        diffusion_loss(lambda x, t: x, x0, ac, reduction="max")
    with pytest.raises(ValueError, match="model output shape"):
        diffusion_loss(lambda x, t: x[:, :, :2], x0, ac)
    with pytest.raises(ValueError, match="concat_condition must be shaped"):
        diffusion_loss(lambda x, t: x[:, :1], x0, ac, concat_condition=torch.zeros(4, 1, 3, 3))
    with pytest.raises(ValueError, match="does not match x_t shape"):
        predict_x0(torch.zeros(1, 1, 5, 5), x0, t, ac, "epsilon")


def test_score_from_epsilon_is_the_gradient_of_the_gaussian_kernel():
    """-eps / sqrt(1 - alphabar) against a central finite difference of scipy's log N(x_t; sqrt(ab) x_0, 1 - ab)."""
    rng = np.random.default_rng(0)
    x0, eps, ab = rng.normal(size=5), rng.normal(size=5), 0.37
    xt = ab**0.5 * x0 + (1 - ab) ** 0.5 * eps
    h = 1e-5
    logq = lambda x: norm.logpdf(x, loc=ab**0.5 * x0, scale=(1 - ab) ** 0.5)  # noqa: E731
    fd = (logq(xt + h) - logq(xt - h)) / (2 * h)
    np.testing.assert_allclose(score_from_epsilon(torch.from_numpy(eps), ab).numpy(), fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_x0_error_weight_matches_converted_errors(prediction_type):
    """Convert an x0 estimate to each target by hand (numpy, float64, Ho eq. 4 and Salimans & Ho's v) and compare
    the ratio of squared errors with the weight."""
    rng = np.random.default_rng(1)
    x0, eps, x0_hat = rng.normal(size=(3, 50))
    for ab in (0.999, 0.5, 0.01):
        a, s = ab**0.5, (1 - ab) ** 0.5
        xt = a * x0 + s * eps
        eps_hat = (xt - a * x0_hat) / s
        target = {"epsilon": eps, "sample": x0, "v_prediction": a * eps - s * x0}[prediction_type]
        pred = {"epsilon": eps_hat, "sample": x0_hat, "v_prediction": a * eps_hat - s * x0_hat}[prediction_type]
        ratio = ((target - pred) ** 2).sum() / ((x0 - x0_hat) ** 2).sum()
        assert float(x0_error_weight(ab / (1 - ab), prediction_type)) == pytest.approx(ratio, rel=1e-9)
    snr = torch.tensor([0.5, 2.0], dtype=torch.float64)
    assert x0_error_weight(snr, prediction_type).shape == (2,)
    with pytest.raises(ValueError):
        x0_error_weight(snr, "score")


def test_vlb_weight_equals_the_snr_form():
    """Ho eq. 12 with sigma^2 = beta_tilde equals (SNR(t-1) / SNR(t) - 1) / 2 (the SNR form of Kingma et al. 2021),
    computed here from numpy's cumprod of float64 betas."""
    betas = np.linspace(1e-4, 2e-2, 1000)
    ab = np.cumprod(1 - betas)
    snr = ab / (1 - ab)
    w = vlb_weight(torch.from_numpy(ab))
    assert w.dtype == torch.float64 and w.shape == (1000,) and torch.isinf(w[0])
    np.testing.assert_allclose(w[1:].numpy(), 0.5 * (snr[:-1] / snr[1:] - 1), rtol=1e-9)
    # a schedule object is accepted; float32 storage costs precision only
    sched = NoiseSchedule(torch.from_numpy(betas).float())
    np.testing.assert_allclose(vlb_weight(sched)[1:].numpy(), w[1:].numpy(), rtol=5e-3)
