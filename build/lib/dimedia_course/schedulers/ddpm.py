"""DDPM ancestral sampling (Ho et al. 2020, Algorithm 2), numerically compatible with MONAI 1.6.

Each step predicts ``x_0`` from the network output, optionally clips it, and draws
``x_{t-1} ~ q(x_{t-1} | x_t, x_0_hat) = N(mu_tilde, sigma_t^2 I)`` with the posterior mean of
Ho et al. 2020, eq. 7. The variance ``sigma_t^2`` is chosen by ``variance_type``:

- ``"fixed_small"``: ``beta_tilde_t = (1 - alphabar_{t-1}) / (1 - alphabar_t) beta_t`` (clamped at 1e-20);
- ``"fixed_large"``: ``beta_t`` (both discussed in Ho et al. 2020, sec. 3.2);
- ``"learned"``: the network outputs ``2C`` channels, the second half *is* the variance;
- ``"learned_range"``: the second half ``v`` in [-1, 1] interpolates
  ``(v+1)/2 * beta_t + (1-(v+1)/2) * beta_tilde_t``. (Nichol & Dhariwal 2021, eq. 15, interpolate
  in log space; MONAI 1.6 interpolates the variances linearly, and so do we, for compatibility.)

The course default ``timestep_spacing="trailing"`` steps to the previous listed timestep. With
``timestep_spacing="leading"`` (MONAI's behaviour, kept for parity) a step always uses the one-step posterior
``q(x_{t-1} | x_t, x_0)``, even when the inference timesteps skip (``num_inference_steps < T``);
the sample then stays noisy. For strided DDPM sampling use ``"trailing"`` or ``"linspace"``: a
step from ``t`` to the previous listed timestep ``t'`` uses ``alpha = alphabar_t / alphabar_t'``
and ``beta = 1 - alpha`` (the DDPM of the sub-sequence, as in diffusers and Nichol & Dhariwal 2021,
sec. 4).
"""

from __future__ import annotations

import warnings

import torch

from dimedia_course.forward import posterior_coefficients
from dimedia_course.schedulers._base import BaseScheduler

__all__ = ["DDPMScheduler", "VARIANCE_TYPES"]

VARIANCE_TYPES = ("fixed_small", "fixed_large", "learned", "learned_range")


class DDPMScheduler(BaseScheduler):
    """Denoising diffusion probabilistic model sampler (Ho et al. 2020).

    Args:
        num_train_timesteps: number of diffusion steps ``T`` used in training.
        schedule: beta schedule name (``"linear_beta"``, ``"scaled_linear_beta"``, ``"cosine"``,
            ``"sigmoid_beta"`` or the short names of :mod:`dimedia_course.schedules`).
        variance_type: one of :data:`VARIANCE_TYPES`.
        clip_sample: clip the predicted ``x_0`` to ``[clip_sample_min, clip_sample_max]``.
        prediction_type: ``"epsilon"``, ``"sample"`` or ``"v_prediction"``.
        timestep_spacing: default spacing of :meth:`set_timesteps` (``"trailing"``; ``"leading"`` = MONAI).
        schedule_args: ``beta_start``, ``beta_end`` (or ``s`` for the cosine schedule).
    """

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        schedule: str = "linear_beta",
        variance_type: str = "fixed_small",
        clip_sample: bool = True,
        prediction_type: str = "epsilon",
        clip_sample_min: float = -1.0,
        clip_sample_max: float = 1.0,
        timestep_spacing: str = "trailing",
        **schedule_args,
    ) -> None:
        if variance_type not in VARIANCE_TYPES:
            raise ValueError(f"unknown variance_type {variance_type!r}; expected one of {VARIANCE_TYPES}")
        self.variance_type = variance_type
        super().__init__(
            num_train_timesteps,
            schedule,
            prediction_type=prediction_type,
            clip_sample=clip_sample,
            clip_sample_min=clip_sample_min,
            clip_sample_max=clip_sample_max,
            timestep_spacing=timestep_spacing,
            **schedule_args,
        )

    def set_timesteps(self, num_inference_steps: int, device=None, timestep_spacing: str | None = None) -> None:
        super().set_timesteps(num_inference_steps, device=device, timestep_spacing=timestep_spacing)
        if self.timestep_spacing == "leading" and self.num_inference_steps < self.num_train_timesteps:
            warnings.warn(
                "DDPMScheduler with timestep_spacing='leading' (MONAI's behaviour) takes one-step posterior "
                "steps even though the inference timesteps skip; use timestep_spacing='trailing' for "
                "strided DDPM sampling",
                UserWarning,
                stacklevel=2,
            )

    def _leading_previous(self, t: int) -> int:
        return t - 1  # MONAI: always the one-step posterior

    def _step_coefficients(self, t: int, prev: int):
        """alphabar_t, alphabar_prev, and the (alpha, beta) of the step t -> prev (float64 floats)."""
        alpha_prod_t = self._alpha_prod(t)
        alpha_prod_prev = self._alpha_prod(prev, 1.0)
        if prev == t - 1:
            alpha, beta = float(self._alphas64[t]), float(self._betas64[t])
        else:  # a skipping step: the DDPM of the sub-sequence of timesteps
            alpha = alpha_prod_t / alpha_prod_prev
            beta = 1.0 - alpha
        return alpha_prod_t, alpha_prod_prev, alpha, beta

    def _variance(self, t: int, prev: int, predicted_variance=None):
        alpha_prod_t, alpha_prod_prev, alpha, beta = self._step_coefficients(t, prev)
        posterior = posterior_coefficients(alpha_prod_t, alpha_prod_prev, alpha)[2]  # beta_tilde, Ho et al. eq. 7
        if self.variance_type == "fixed_small":
            return max(posterior, 1e-20)
        if self.variance_type == "fixed_large":
            return beta
        if predicted_variance is None:
            return posterior
        if self.variance_type == "learned":
            return predicted_variance
        frac = (predicted_variance + 1) / 2  # learned_range
        return frac * beta + (1 - frac) * posterior

    def step(
        self,
        model_output: torch.Tensor,
        timestep,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        pred_original_sample: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One ancestral step ``x_t -> x_{t-1}`` (Ho et al. 2020, Algorithm 2 with eq. 7 and 15).

        Args:
            model_output: network output shaped like ``sample`` (``2C`` channels for learned variances).
            timestep: current timestep (int or one-element tensor).
            sample: the current ``x_t``.
            generator: random generator for the added noise (drawn like MONAI: one ``randn`` shaped
                like ``sample``, on the generator's device).
            pred_original_sample: use this clean-image estimate instead of the one from ``model_output``
                (e.g. after a data-consistency correction of :meth:`predict_original_sample`).

        Returns:
            ``(prev_sample, pred_original_sample)``.
        """
        t = self._check_timestep(timestep)
        predicted_variance = None
        if (
            self.variance_type in ("learned", "learned_range")
            and model_output.ndim == sample.ndim
            and model_output.shape[1] == 2 * sample.shape[1]
        ):
            model_output, predicted_variance = torch.split(model_output, sample.shape[1], dim=1)
        self._check_shapes(model_output, sample)
        prev = self.previous_timestep(t)
        alpha_prod_t, alpha_prod_prev, alpha, beta = self._step_coefficients(t, prev)

        if pred_original_sample is None:
            x0 = self._clip(self._predict_x0_eps(model_output, sample, alpha_prod_t)[0])
        else:
            self._check_shapes(pred_original_sample, sample)
            x0 = pred_original_sample

        # posterior mean mu_tilde(x_t, x0_hat), Ho et al. 2020 eq. 7
        coef_x0, coef_xt, _ = posterior_coefficients(alpha_prod_t, alpha_prod_prev, alpha)
        prev_sample = coef_x0 * x0 + coef_xt * sample

        if prev >= 0:  # no noise on the final step to the clean image
            noise = self._randn_like(sample, generator)
            variance = self._variance(t, prev, predicted_variance)
            prev_sample = prev_sample + variance**0.5 * noise
        return prev_sample, x0
