import numpy as np
import pytest
import torch

from dimedia_course.forward import q_posterior_mean_variance, q_sample, q_step
from dimedia_course.schedules import NoiseSchedule


@pytest.fixture
def sched():
    return NoiseSchedule.from_name("linear", 100)


def test_q_sample_formula(sched):
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 1, 4, 4, generator=g)
    noise = torch.randn(3, 1, 4, 4, generator=g)
    t = torch.tensor([0, 50, 99])
    xt = q_sample(x0, t, noise, sched.alphas_cumprod)
    for i in range(3):
        ab = sched.alphas_cumprod[t[i]]
        torch.testing.assert_close(xt[i], ab.sqrt() * x0[i] + (1 - ab).sqrt() * noise[i])
    # a NoiseSchedule is accepted in place of the tensor, and an int timestep broadcasts
    torch.testing.assert_close(q_sample(x0, 50, noise, sched), q_sample(x0, torch.full((3,), 50), noise, sched))


def test_q_sample_statistics(sched):
    g = torch.Generator().manual_seed(1)
    x0 = torch.full((20000, 1), 0.7)
    xt = q_sample(x0, 60, torch.randn(x0.shape, generator=g), sched)
    ab = sched.alphas_cumprod[60].item()
    assert xt.mean().item() == pytest.approx(ab**0.5 * 0.7, abs=0.03)
    assert xt.var().item() == pytest.approx(1 - ab, rel=0.05)


def test_q_step_chain_reaches_the_closed_form_marginal():
    """k steps of Ho eq. 2 give x_k = sqrt(alphabar_k) x_0 + sqrt(1 - alphabar_k) eps (eq. 4), checked exactly in
    float64: the chain is linear, so running it with x_0 = 1 and no noise gives the signal coefficient, and
    running it with one unit noise at step j gives the coefficient of eps_j; numpy's cumprod is the oracle."""
    betas = torch.linspace(1e-4, 0.2, 30, dtype=torch.float64)
    k = 25
    x = torch.zeros(k + 1, 1, dtype=torch.float64)
    x[0] = 1.0  # row 0 carries the signal, row j + 1 the noise injected at step j
    for t in range(k):
        noise = torch.zeros_like(x)
        noise[t + 1] = 1.0
        x = q_step(x, t, noise, betas)
    alphabar = np.cumprod(1.0 - betas.numpy())[k - 1]
    assert x[0].item() == pytest.approx(np.sqrt(alphabar), rel=1e-12)
    assert (x[1:] ** 2).sum().item() == pytest.approx(1.0 - alphabar, rel=1e-12)
    # one step by hand, a scheduler-like object with .betas, and per-sample timesteps
    x_prev, eps = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    out = q_step(x_prev, torch.tensor([3, 7]), eps, NoiseSchedule(betas))
    b = betas.float().double()[torch.tensor([3, 7])][:, None]  # NoiseSchedule stores float32 betas
    torch.testing.assert_close(out, (1 - b).sqrt() * x_prev + b.sqrt() * eps)
    with pytest.raises(ValueError, match="shape"):
        q_step(x_prev, 3, eps[:1], betas)


def test_posterior_matches_bayes_rule(sched):
    """mu_tilde, beta_tilde of Ho eq. 7 equal the Gaussian product q(x_t|x_{t-1}) q(x_{t-1}|x_0)."""
    g = torch.Generator().manual_seed(2)
    x0, xt = torch.randn(2, 1, 3, 3, generator=g), torch.randn(2, 1, 3, 3, generator=g)
    t = torch.tensor([5, 80])
    mean, var, logvar = q_posterior_mean_variance(x0, xt, t, sched)
    b = sched.betas.double()[t].view(-1, 1, 1, 1)
    abp = torch.cumprod(1 - sched.betas.double(), 0)[t - 1].view(-1, 1, 1, 1)
    # precision-weighted combination of N(x_{t-1}; sqrt(abp) x0, 1-abp) and x_t = sqrt(1-b) x_{t-1} + sqrt(b) e
    prec = 1 / (1 - abp) + (1 - b) / b
    mean_ref = (abp.sqrt() * x0.double() / (1 - abp) + (1 - b).sqrt() * xt.double() / b) / prec
    torch.testing.assert_close(mean.double(), mean_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(var.double(), 1 / prec, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(logvar, var.log(), rtol=1e-5, atol=1e-6)
    assert var.shape == (2, 1, 1, 1)


def test_posterior_at_t0_and_betas_input(sched):
    x0, xt = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    mean, var, logvar = q_posterior_mean_variance(x0, xt, torch.tensor([0]), sched.betas)
    torch.testing.assert_close(mean, x0)  # at t=0 the posterior collapses onto x0
    assert var.item() == 0.0 and torch.isfinite(logvar).all()


def test_forward_errors(sched):
    x = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match="noise must have the shape"):
        q_sample(x, 1, torch.zeros(2, 1, 4, 5), sched)
    with pytest.raises(ValueError, match=r"\[0, 99\]"):
        q_sample(x, torch.tensor([0, 100]), x, sched)
    with pytest.raises(ValueError, match="same shape"):
        q_posterior_mean_variance(x, torch.zeros(2, 1, 4, 5), 1, sched)
    with pytest.raises(TypeError, match="betas_or_schedule"):
        q_posterior_mean_variance(x, x, 1, [0.1, 0.2])
