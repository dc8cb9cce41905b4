"""The forward (noising) process of a diffusion model and its tractable posterior.

- :func:`q_sample` draws ``x_t ~ q(x_t | x_0)`` in closed form (Ho et al. 2020, eq. 4):
  ``x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps`` with ``eps ~ N(0, I)``.
- :func:`q_step` takes one step of the chain, ``x_t ~ q(x_t | x_{t-1})`` (Ho et al. 2020, eq. 2).
- :func:`q_posterior_mean_variance` gives ``q(x_{t-1} | x_t, x_0) = N(mu_tilde, beta_tilde I)``
  (Ho et al. 2020, eq. 6-7), the target that every reverse step tries to match.
"""

from __future__ import annotations

import torch

from dimedia_course.schedules import NoiseSchedule, extract
from dimedia_course.validation import check_alphas_cumprod

__all__ = ["q_sample", "q_step", "posterior_coefficients", "q_posterior_mean_variance"]


def q_sample(x0: torch.Tensor, t, noise: torch.Tensor, alphas_cumprod) -> torch.Tensor:
    """Sample ``x_t`` from ``q(x_t | x_0)`` (Ho et al. 2020, eq. 4).

    Args:
        x0: clean images ``(B, C, ...)``.
        t: integer timesteps, an int or a ``(B,)`` tensor (0-based).
        noise: standard normal noise shaped like ``x0``.
        alphas_cumprod: ``(T,)`` tensor of alphabar_t (or a NoiseSchedule / scheduler).
    """
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    ab = extract(check_alphas_cumprod(alphas_cumprod), t, x0)
    return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise


def q_step(x_prev: torch.Tensor, t, noise: torch.Tensor, betas) -> torch.Tensor:
    """One step of the forward chain, ``x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps``, a draw of
    ``q(x_t | x_{t-1})`` (Ho et al. 2020, eq. 2); iterated, it is the Euler-Maruyama discretisation of the VP SDE
    (Song et al. 2021, eq. 10-11) and reaches the marginal of :func:`q_sample`.

    Args:
        x_prev: ``x_{t-1}`` shaped ``(B, C, ...)``.
        t: integer timesteps, an int or a ``(B,)`` tensor (0-based: ``t = 0`` noises the clean image).
        noise: standard normal noise shaped like ``x_prev``.
        betas: ``(T,)`` tensor of betas, or an object with a ``betas`` attribute (NoiseSchedule, scheduler).
    """
    if noise.shape != x_prev.shape:
        raise ValueError(f"noise must have the shape of x_prev {tuple(x_prev.shape)}, got {tuple(noise.shape)}")
    beta = extract(torch.as_tensor(getattr(betas, "betas", betas)), t, x_prev)
    return (1.0 - beta).sqrt() * x_prev + beta.sqrt() * noise


def posterior_coefficients(alpha_prod_t, alpha_prod_prev, alpha_t):
    """Coefficients of ``q(x_{t'} | x_t, x_0) = N(c_0 x_0 + c_t x_t, beta_tilde I)`` (Ho et al. 2020, eq. 6-7)
    for a step ``t -> t'`` with ``alpha_t = alphabar_t / alphabar_{t'}`` and ``beta_t = 1 - alpha_t``:

    ``c_0 = sqrt(alphabar_{t'}) beta_t / (1 - alphabar_t)``,
    ``c_t = sqrt(alpha_t) (1 - alphabar_{t'}) / (1 - alphabar_t)``,
    ``beta_tilde = (1 - alphabar_{t'}) / (1 - alphabar_t) beta_t``.

    Floats (the schedulers, in float64) or tensors (:func:`q_posterior_mean_variance`). Returns
    ``(c_0, c_t, beta_tilde)``.
    """
    beta_t = 1.0 - alpha_t
    coef_x0 = alpha_prod_prev**0.5 * beta_t / (1.0 - alpha_prod_t)
    coef_xt = alpha_t**0.5 * (1.0 - alpha_prod_prev) / (1.0 - alpha_prod_t)
    variance = (1.0 - alpha_prod_prev) / (1.0 - alpha_prod_t) * beta_t
    return coef_x0, coef_xt, variance


def q_posterior_mean_variance(x0: torch.Tensor, x_t: torch.Tensor, t, betas_or_schedule):
    """Mean and variance of the posterior ``q(x_{t-1} | x_t, x_0)`` (Ho et al. 2020, eq. 6-7).

    ``mu_tilde = sqrt(alphabar_{t-1}) beta_t / (1 - alphabar_t) x_0
    + sqrt(alpha_t) (1 - alphabar_{t-1}) / (1 - alphabar_t) x_t`` and
    ``beta_tilde = (1 - alphabar_{t-1}) / (1 - alphabar_t) beta_t`` with alphabar_{-1} = 1.

    Args:
        x0, x_t: clean and noisy images of the same shape ``(B, C, ...)``.
        t: integer timesteps (int or ``(B,)`` tensor).
        betas_or_schedule: a ``(T,)`` tensor of betas, a :class:`NoiseSchedule` or a scheduler.

    Returns:
        ``(mean, variance, log_variance_clipped)``; variance terms broadcast against ``x_t``. The log
        variance at ``t = 0`` (where the variance is 0) is replaced by its value at ``t = 1``, as in
        Nichol & Dhariwal 2021, so that it stays finite.
    """
    if x0.shape != x_t.shape:
        raise ValueError(f"x0 and x_t must have the same shape, got {tuple(x0.shape)} and {tuple(x_t.shape)}")
    if isinstance(betas_or_schedule, NoiseSchedule):
        schedule = betas_or_schedule
    elif hasattr(betas_or_schedule, "betas"):
        schedule = NoiseSchedule(betas_or_schedule.betas)
    elif torch.is_tensor(betas_or_schedule):
        schedule = NoiseSchedule(betas_or_schedule)
    else:
        raise TypeError(
            f"betas_or_schedule must be a tensor of betas or a NoiseSchedule, got {type(betas_or_schedule).__name__}"
        )
    # recompute in float64 from the betas so that the t = 0 case is exact (mean = x0, variance = 0)
    betas = schedule.betas.double()
    ab = torch.cumprod(1.0 - betas, dim=0)
    ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
    coef_x0, coef_xt, variance = posterior_coefficients(ab, ab_prev, 1.0 - betas)
    log_variance = torch.log(torch.cat([variance[1:2], variance[1:]])) if len(variance) > 1 else variance.log()

    mean = extract(coef_x0, t, x_t) * x0 + extract(coef_xt, t, x_t) * x_t
    return mean, extract(variance, t, x_t), extract(log_variance, t, x_t)
