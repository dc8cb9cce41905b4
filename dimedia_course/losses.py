"""Training objectives of diffusion models and conversions between parameterisations.

The network sees ``x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps`` and predicts one of

- ``"epsilon"``: the noise ``eps`` - the "simple" loss of Ho et al. 2020, eq. 14;
- ``"sample"``: the clean image ``x_0`` directly;
- ``"v_prediction"``: the velocity ``v = sqrt(alphabar_t) eps - sqrt(1 - alphabar_t) x_0``
  (Salimans & Ho 2022, sec. 4 and appendix D).

All three are linear in ``(x_t, x_0, eps)``, so any one of them can be converted into the others
(:func:`predict_x0`, :func:`predict_epsilon`, :func:`score_from_epsilon`), and a squared error on any of them is a
squared error on ``x_0`` with an SNR-dependent weight (:func:`x0_error_weight`). :func:`vlb_weight` is the weight
that the variational bound puts on the noise error at each timestep.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dimedia_course.forward import posterior_coefficients, q_sample
from dimedia_course.schedules import extract
from dimedia_course.validation import PREDICTION_TYPES, check_alphas_cumprod, check_condition, check_prediction_type

__all__ = [
    "PREDICTION_TYPES",
    "velocity",
    "get_velocity",
    "score_from_epsilon",
    "x0_error_weight",
    "vlb_weight",
    "x0_eps_from_output",
    "training_target",
    "predict_x0",
    "predict_epsilon",
    "diffusion_loss",
    "flow_velocity_target",
    "flow_matching_loss",
]

_REDUCTIONS = ("mean", "sum", "none")


def velocity(x0: torch.Tensor, noise: torch.Tensor, alpha_prod) -> torch.Tensor:
    """``v = sqrt(alphabar) eps - sqrt(1 - alphabar) x_0`` at one noise level ``alpha_prod`` (a float or
    a tensor that broadcasts against ``x0``) (Salimans & Ho 2022, sec. 4)."""
    return alpha_prod**0.5 * noise - (1.0 - alpha_prod) ** 0.5 * x0


def get_velocity(x0: torch.Tensor, noise: torch.Tensor, t, alphas_cumprod) -> torch.Tensor:
    """The v-prediction target :func:`velocity` at integer timesteps ``t`` (Salimans & Ho 2022, sec. 4)."""
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    return velocity(x0, noise, extract(check_alphas_cumprod(alphas_cumprod), t, x0))


def score_from_epsilon(eps: torch.Tensor, alpha_prod) -> torch.Tensor:
    """``grad_{x_t} log q(x_t | x_0) = -eps / sqrt(1 - alphabar)`` for ``x_t = sqrt(alphabar) x_0 + sqrt(1 - alphabar)
    eps``: the denoising score matching target (Vincent 2011, eq. 11; Song et al. 2021, eq. 7), and, with the
    predicted noise in place of ``eps``, the network's score estimate (Ho et al. 2020, eq. 11 read as a score).
    ``alpha_prod`` is a float or a tensor that broadcasts against ``eps``."""
    return -eps / (1.0 - alpha_prod) ** 0.5


def x0_error_weight(snr, prediction_type: str):
    """The weight ``w`` with ``||target - prediction||^2 = w ||x_0 - x0_hat||^2`` when the prediction of
    ``prediction_type`` is converted to ``x0_hat`` (Salimans & Ho 2022, sec. 4; Kingma et al. 2021, eq. 2):
    ``SNR`` for epsilon, ``1`` for sample, ``1 + SNR`` for v_prediction. ``snr`` is a float or a tensor of
    ``alphabar / (1 - alphabar)``."""
    check_prediction_type(prediction_type)
    if prediction_type == "epsilon":
        return snr
    if prediction_type == "sample":
        return torch.ones_like(snr) if torch.is_tensor(snr) else 1.0
    return 1 + snr


def vlb_weight(alphas_cumprod) -> torch.Tensor:
    """The weight ``lambda_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alphabar_t))`` of ``E||eps - eps_theta||^2`` in
    the bound term ``L_{t-1}`` with ``sigma_t^2 = beta_tilde_t`` (Ho et al. 2020, eq. 12, with eq. 7 for
    ``beta_tilde``); ``L_simple`` (eq. 14) sets it to 1. ``(T,)`` float64, computed from the given alphabar (a float32
    schedule limits it to about 1e-3 relative precision at small ``t``); entry 0 (the decoder term ``L_0``, where
    ``beta_tilde = 0``) is ``inf``. ``alphas_cumprod``: a ``(T,)`` tensor, a NoiseSchedule or a scheduler."""
    ab = check_alphas_cumprod(alphas_cumprod).detach().double().cpu()
    ab_prev = torch.cat([ab.new_ones(1), ab[:-1]])
    alpha = ab / ab_prev
    beta_tilde = posterior_coefficients(ab, ab_prev, alpha)[2]
    return (1.0 - alpha) ** 2 / (2.0 * beta_tilde * alpha * (1.0 - ab))


def training_target(x0: torch.Tensor, noise: torch.Tensor, t, alphas_cumprod, prediction_type: str):
    """What the network should output for ``x_t = q_sample(x0, t, noise)``."""
    check_prediction_type(prediction_type)
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "sample":
        return x0
    return get_velocity(x0, noise, t, alphas_cumprod)


def x0_eps_from_output(model_output: torch.Tensor, x_t: torch.Tensor, alpha_prod, prediction_type: str):
    """``(x0_hat, eps_hat)`` from a network output for ``x_t`` at the noise level ``alpha_prod``
    (alphabar_t: a float or a tensor broadcasting against ``x_t``). Every parameterisation is linear in
    ``(x_t, x_0, eps)`` with ``x_t = sqrt(alphabar) x_0 + sqrt(1 - alphabar) eps`` (Ho et al. 2020, eq. 4):

    - epsilon: ``x0 = (x_t - sqrt(1 - alphabar) eps) / sqrt(alphabar)`` (Ho et al. 2020, eq. 15);
    - sample: ``eps = (x_t - sqrt(alphabar) x0) / sqrt(1 - alphabar)``;
    - v_prediction: ``x0 = sqrt(alphabar) x_t - sqrt(1 - alphabar) v``,
      ``eps = sqrt(alphabar) v + sqrt(1 - alphabar) x_t`` (Salimans & Ho 2022, sec. 4 and appendix D).

    This is the one place of these conversions: :func:`predict_x0`, :func:`predict_epsilon` and the
    schedulers (with float64 ``alpha_prod``) call it.
    """
    check_prediction_type(prediction_type)
    a, s = alpha_prod**0.5, (1.0 - alpha_prod) ** 0.5
    if prediction_type == "epsilon":
        return (x_t - s * model_output) / a, model_output
    if prediction_type == "sample":
        return model_output, (x_t - a * model_output) / s
    return a * x_t - s * model_output, a * model_output + s * x_t


def _alpha_prod_for_output(model_output, x_t, t, alphas_cumprod, prediction_type):
    """Check a network output against ``x_t`` and gather alphabar_t shaped to broadcast against it."""
    check_prediction_type(prediction_type)
    if model_output.shape != x_t.shape:
        raise ValueError(f"model_output shape {tuple(model_output.shape)} does not match x_t shape {tuple(x_t.shape)}")
    return extract(check_alphas_cumprod(alphas_cumprod), t, x_t)


def predict_x0(model_output: torch.Tensor, x_t: torch.Tensor, t, alphas_cumprod, prediction_type: str):
    """Estimate of ``x_0`` from a network output at integer timesteps ``t`` (see :func:`x0_eps_from_output`)."""
    ab = _alpha_prod_for_output(model_output, x_t, t, alphas_cumprod, prediction_type)
    return x0_eps_from_output(model_output, x_t, ab, prediction_type)[0]


def predict_epsilon(model_output: torch.Tensor, x_t: torch.Tensor, t, alphas_cumprod, prediction_type: str):
    """Estimate of the noise ``eps`` from a network output at integer timesteps ``t`` (see
    :func:`x0_eps_from_output`)."""
    ab = _alpha_prod_for_output(model_output, x_t, t, alphas_cumprod, prediction_type)
    return x0_eps_from_output(model_output, x_t, ab, prediction_type)[1]


def call_model(model, x, t, y=None):
    """Call a denoiser with the package convention ``model(x, t, y=None)``.

    ``y`` is only passed when given, so plain ``model(x, t)`` networks work too.
    """
    return model(x, t) if y is None else model(x, t, y)


def _check_loss_inputs(x0, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {_REDUCTIONS}")
    if not torch.is_tensor(x0) or x0.ndim < 2:
        raise ValueError("x0 must be a tensor shaped (B, C, ...)")


def _draw_device(x0: torch.Tensor, generator: torch.Generator | None) -> torch.device:
    """Random draws happen on the generator's device (then move to ``x0``'s), so a CPU generator works on GPU."""
    return generator.device if generator is not None else x0.device


def _given_timesteps(t, x0: torch.Tensor) -> torch.Tensor:
    """Timesteps given by the caller, as a tensor on ``x0``'s device; one value is used for the whole batch."""
    t = torch.as_tensor(t, device=x0.device)
    return t.expand(x0.shape[0]) if t.ndim == 0 else t


def _noise_for(x0: torch.Tensor, noise, generator: torch.Generator | None) -> torch.Tensor:
    """``noise`` when given, else ``eps ~ N(0, I)`` shaped like ``x0`` from ``generator``."""
    if noise is not None:
        return noise
    return torch.randn(x0.shape, generator=generator, device=_draw_device(x0, generator), dtype=x0.dtype).to(x0.device)


def _model_output(model, x_t: torch.Tensor, t, y, concat_condition, x0: torch.Tensor) -> torch.Tensor:
    """``model(cat([x_t, concat_condition], 1), t, y)``, which must be shaped like ``x0``."""
    x_in = x_t if concat_condition is None else torch.cat([x_t, check_condition(concat_condition, x_t)], dim=1)
    output = call_model(model, x_in, t, y)
    if output.shape != x0.shape:
        raise ValueError(f"model output shape {tuple(output.shape)} does not match x0 shape {tuple(x0.shape)}")
    return output


def _reduced_mse(output: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-sample mean squared error, then ``reduction`` over the batch (see :func:`diffusion_loss`)."""
    per_sample = F.mse_loss(output, target, reduction="none").flatten(1).mean(dim=1)
    if reduction == "none":
        return per_sample
    return per_sample.mean() if reduction == "mean" else per_sample.sum()


def diffusion_loss(
    model,
    x0: torch.Tensor,
    alphas_cumprod,
    prediction_type: str = "epsilon",
    y=None,
    t=None,
    noise=None,
    generator: torch.Generator | None = None,
    concat_condition: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Monte-Carlo estimate of the denoising loss (Ho et al. 2020, eq. 14 "L_simple").

    Draws ``t ~ Uniform{0..T-1}`` and ``eps ~ N(0, I)`` (from ``generator``) unless given, forms
    ``x_t`` with :func:`q_sample`, calls ``model(cat([x_t, concat_condition], 1), t, y)`` and
    returns the mean squared error to :func:`training_target`.

    Args:
        model: denoiser ``model(x, t, y=None)``.
        x0: clean images ``(B, C, ...)``.
        alphas_cumprod: ``(T,)`` alphabar tensor, a NoiseSchedule or a scheduler.
        prediction_type: one of :data:`PREDICTION_TYPES`.
        y: optional class labels ``(B,)`` passed to the model.
        t, noise: fix the timesteps / noise instead of sampling them.
        generator: random generator for ``t`` and ``noise``.
        concat_condition: optional ``(B, Cc, ...)`` image concatenated to ``x_t`` along channels.
        reduction: ``"mean"`` (scalar), ``"sum"`` (sum over the batch of the per-sample
            mean errors) or ``"none"`` (per-sample mean errors, shape ``(B,)``).
    """
    check_prediction_type(prediction_type)
    _check_loss_inputs(x0, reduction)
    ac = check_alphas_cumprod(alphas_cumprod)
    if t is None:
        t = torch.randint(0, ac.shape[0], (x0.shape[0],), generator=generator, device=_draw_device(x0, generator))
        t = t.to(x0.device)
    else:
        t = _given_timesteps(t, x0)
    noise = _noise_for(x0, noise, generator)
    output = _model_output(model, q_sample(x0, t, noise, ac), t, y, concat_condition, x0)
    return _reduced_mse(output, training_target(x0, noise, t, ac, prediction_type), reduction)


def flow_velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The conditional velocity ``u = x_0 - eps`` of the straight path ``x_s = (1 - s) x_0 + s eps``.

    It is the rectified-flow target (Liu et al. 2023, arXiv 2209.03003, eq. 1, ``X_1 - X_0`` with data
    at time 1) and the optimal-transport conditional field of Lipman et al. 2023 (arXiv 2210.02747,
    eq. 23 with ``sigma_min = 0``), written in the course's (and MONAI's) time direction: ``s = 1`` is
    noise, ``s = 0`` data, and the network predicts the direction *towards the data*, i.e.
    ``u = -dx_s/ds``. It does not depend on ``s``.
    """
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    return x0 - noise


def flow_matching_loss(
    model,
    x0: torch.Tensor,
    scheduler,
    prediction_type: str = "flow_velocity",
    y=None,
    t=None,
    noise=None,
    generator: torch.Generator | None = None,
    concat_condition: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Monte-Carlo estimate of the conditional flow-matching loss (Lipman et al. 2023, eq. 9 / 23;
    Liu et al. 2023, eq. 1): ``E || model(x_t, t) - (x_0 - eps) ||^2``.

    ``scheduler`` is a rectified-flow scheduler (:class:`~dimedia_course.schedulers.RFlowScheduler`):
    it draws the timesteps (``sample_timesteps``: uniform or logit-normal, Esser et al. 2024, eq. 19)
    and forms ``x_t`` (``add_noise``). The rest (``y``, ``t``, ``noise``, ``concat_condition``,
    ``reduction``) is as in :func:`diffusion_loss`; this is the loss the one training loop calls for
    a flow scheduler. ``prediction_type`` must be ``"flow_velocity"`` (the only target of a flow here).
    """
    if prediction_type != "flow_velocity":
        raise ValueError(f"flow_matching_loss trains prediction_type='flow_velocity' only, got {prediction_type!r}")
    _check_loss_inputs(x0, reduction)
    if not hasattr(scheduler, "sample_timesteps") or not hasattr(scheduler, "add_noise"):
        raise TypeError(f"scheduler must be a rectified-flow scheduler, got {type(scheduler).__name__}")
    t = scheduler.sample_timesteps(x0, generator=generator) if t is None else _given_timesteps(t, x0)
    t = t.to(x0.device)
    noise = _noise_for(x0, noise, generator)
    output = _model_output(model, scheduler.add_noise(x0, noise, t), t, y, concat_condition, x0)
    return _reduced_mse(output, flow_velocity_target(x0, noise), reduction)
