"""DDIM sampling and its deterministic reversal (Song et al. 2021), compatible with MONAI 1.6.

A DDIM step (Song et al. 2021, eq. 12) from timestep ``t`` to an earlier ``t'``:

    x0_hat  = (x_t - sqrt(1 - alphabar_t) eps_hat) / sqrt(alphabar_t)
    x_{t'}  = sqrt(alphabar_{t'}) x0_hat + sqrt(1 - alphabar_{t'} - sigma_t^2) eps_hat + sigma_t z

with ``sigma_t = eta * sqrt((1 - alphabar_{t'}) / (1 - alphabar_t)) * sqrt(1 - alphabar_t / alphabar_{t'})``
(eq. 16). ``eta = 0`` is the deterministic DDIM (an ODE solver), ``eta = 1`` matches DDPM.

Because the ``eta = 0`` step is invertible when ``eps_hat`` changes little between neighbouring
timesteps, it can be run backwards (:meth:`DDIMScheduler.reversed_step`) to encode an image into
its noise (Song et al. 2021, sec. 4.3; Dhariwal & Nichol 2021, appendix F).

``set_alpha_to_one``: the last step goes to the clean image; its ``alphabar`` is 1 when True,
else ``alphabar_0``. ``steps_offset`` shifts the "leading" (MONAI) timesteps. (Stable Diffusion's DDIM
configuration, ``steps_offset=1, set_alpha_to_one=False`` with diffusers' own "leading" rule
``t_i = i * (T // n) + 1``, is a different list from MONAI's "leading" and is not reproduced here.)

The course default spacing is "trailing": every step lands on the next timestep the network is
evaluated at. MONAI's "leading" rule steps ``t -> t - T // n``, which for most ``n`` is not the next
listed timestep (e.g. T = 1000, n = 3: 999 -> 666 while the network is next evaluated at 500);
:meth:`DDIMScheduler.set_timesteps` warns when that happens.
"""

from __future__ import annotations

import warnings

import torch

from dimedia_course.forward import posterior_coefficients
from dimedia_course.schedulers._base import BaseScheduler
from dimedia_course.validation import as_int_timestep

__all__ = ["DDIMScheduler"]


def _ddim_update(x0: torch.Tensor, eps: torch.Tensor, alpha_prod_to: float, sigma2: float = 0.0) -> torch.Tensor:
    """The noise-free part of Song et al. 2021, eq. 12, for a move to the timestep whose alphabar is
    ``alpha_prod_to``: ``sqrt(alphabar_to) x0_hat + sqrt(1 - alphabar_to - sigma^2) eps_hat``
    ("predicted x_0" plus "direction pointing to x_t"). :meth:`DDIMScheduler.step` adds ``sigma z``;
    :meth:`DDIMScheduler.reversed_step` uses it towards noise with ``sigma = 0``."""
    direction = max(1.0 - alpha_prod_to - sigma2, 0.0) ** 0.5 * eps
    return alpha_prod_to**0.5 * x0 + direction


class DDIMScheduler(BaseScheduler):
    """Denoising diffusion implicit model sampler (Song et al. 2021).

    Args:
        num_train_timesteps: number of diffusion steps ``T`` used in training.
        schedule: beta schedule name (see :class:`~dimedia_course.schedulers.DDPMScheduler`).
        clip_sample: clip the predicted ``x_0`` to ``[clip_sample_min, clip_sample_max]``.
        set_alpha_to_one: alphabar of the clean image used by the last step (1 or alphabar_0).
        steps_offset: offset added to the "leading" inference timesteps.
        prediction_type: ``"epsilon"``, ``"sample"`` or ``"v_prediction"``.
        timestep_spacing: default spacing of :meth:`set_timesteps` (``"trailing"``; ``"leading"`` = MONAI).
        schedule_args: ``beta_start``, ``beta_end`` (or ``s`` for the cosine schedule).
    """

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        schedule: str = "linear_beta",
        clip_sample: bool = True,
        set_alpha_to_one: bool = True,
        steps_offset: int = 0,
        prediction_type: str = "epsilon",
        clip_sample_min: float = -1.0,
        clip_sample_max: float = 1.0,
        timestep_spacing: str = "trailing",
        **schedule_args,
    ) -> None:
        super().__init__(
            num_train_timesteps,
            schedule,
            prediction_type=prediction_type,
            clip_sample=clip_sample,
            clip_sample_min=clip_sample_min,
            clip_sample_max=clip_sample_max,
            steps_offset=steps_offset,
            timestep_spacing=timestep_spacing,
            **schedule_args,
        )
        self.set_alpha_to_one = bool(set_alpha_to_one)
        self.final_alpha_cumprod = torch.tensor(1.0) if set_alpha_to_one else self.alphas_cumprod[0]
        self._final_alpha_cumprod64 = 1.0 if set_alpha_to_one else float(self._alphas_cumprod64[0])

    def set_timesteps(self, num_inference_steps: int, device=None, timestep_spacing: str | None = None) -> None:
        super().set_timesteps(num_inference_steps, device=device, timestep_spacing=timestep_spacing)
        if self.timestep_spacing != "leading":
            return
        listed = self._timestep_list
        targets = [max(listed[i + 1], -1) if i + 1 < len(listed) else -1 for i in range(len(listed))]
        gaps = [abs(max(self._leading_previous(t), -1) - target) for t, target in zip(listed, targets)]
        if max(gaps) > 0:
            warnings.warn(
                f"DDIMScheduler with timestep_spacing='leading' (MONAI's rule t -> t - T // n) lands up to "
                f"{max(gaps)} timesteps away from the next timestep the network is evaluated at "
                f"(T={self.num_train_timesteps}, n={self.num_inference_steps}); use timestep_spacing='trailing'",
                UserWarning,
                stacklevel=2,
            )

    def _leading_previous(self, t: int) -> int:
        return t - self.num_train_timesteps // self.num_inference_steps  # MONAI's rule

    def next_timestep(self, timestep) -> int:
        """The timestep that :meth:`reversed_step` at ``timestep`` moves to (``-1``: the clean image)."""
        t = self._check_timestep(timestep, allow_clean=True)
        if self.timestep_spacing == "leading":
            return t + self.num_train_timesteps // self.num_inference_steps  # MONAI's rule
        later = [v for v in self._timestep_list if v > t]
        if not later:
            raise ValueError(f"timestep {t} is the noisiest inference timestep; there is no next timestep")
        return min(later)

    def step(
        self,
        model_output: torch.Tensor,
        timestep,
        sample: torch.Tensor,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
        *,
        pred_original_sample: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One DDIM step ``x_t -> x_{t'}`` (Song et al. 2021, eq. 12 with sigma from eq. 16).

        Returns ``(prev_sample, pred_original_sample)``. Noise (only when ``eta > 0``) is one
        ``randn`` shaped like ``sample`` from ``generator``, as in MONAI. ``pred_original_sample``
        replaces the clean-image estimate while ``eps_hat`` stays the network's (data consistency as in
        Chung et al. 2024, "decomposed diffusion sampling", eq. 13).
        """
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        t = self._check_timestep(timestep)
        self._check_shapes(model_output, sample)
        prev = self.previous_timestep(t)
        alpha_prod_t = self._alpha_prod(t)
        alpha_prod_prev = self._alpha_prod(prev, self._final_alpha_cumprod64)

        x0, eps = self._predict_x0_eps(model_output, sample, alpha_prod_t)
        x0 = self._clip(x0)
        if pred_original_sample is not None:
            self._check_shapes(pred_original_sample, sample)
            x0 = pred_original_sample

        # sigma_t(eta)^2, eq. 16: eta^2 times the posterior variance beta_tilde of the step t -> t' (Ho et al. 2020,
        # eq. 7, with alpha = alphabar_t / alphabar_t'), which is why eta = 1 is DDPM
        variance = posterior_coefficients(alpha_prod_t, alpha_prod_prev, alpha_prod_t / alpha_prod_prev)[2]
        std = eta * max(variance, 0.0) ** 0.5
        prev_sample = _ddim_update(x0, eps, alpha_prod_prev, std**2)  # eq. 12
        if eta > 0:
            prev_sample = prev_sample + std * self._randn_like(sample, generator)
        return prev_sample, x0

    def reversed_step(
        self, model_output: torch.Tensor, timestep, sample: torch.Tensor, next_timestep=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Deterministic DDIM step *towards noise* ``x_t -> x_{t_next}`` (eq. 12 with eta = 0 run
        backwards; Dhariwal & Nichol 2021, appendix F; Mokady et al. 2023, eq. 6).

        Args:
            model_output: network output for the current sample.
            timestep: the current timestep of ``sample``; ``-1`` means the clean image (its
                alphabar is ``final_alpha_cumprod``), an extension of MONAI.
            sample: the current sample.
            next_timestep: where to go; by default :meth:`next_timestep` (MONAI: ``t + T // n``
                for "leading"). :func:`dimedia_course.inversion.ddim_invert` passes it explicitly
                so that inversion mirrors :meth:`step` exactly.

        Returns:
            ``(next_sample, pred_original_sample)``.
        """
        t = self._check_timestep(timestep, allow_clean=True)
        self._check_shapes(model_output, sample)
        if next_timestep is None:
            t_next = self.next_timestep(t)
        else:
            t_next = as_int_timestep(next_timestep, "next_timestep")
        if not t < t_next < self.num_train_timesteps:
            raise ValueError(
                f"next timestep must lie in ({t}, {self.num_train_timesteps - 1}], got {t_next}"
                + (" (reversed_step at the noisiest timestep has nowhere to go)" if next_timestep is None else "")
            )
        alpha_prod_t = self._alpha_prod(t, self._final_alpha_cumprod64)
        alpha_prod_next = self._alpha_prod(t_next)

        if alpha_prod_t < 1.0:
            x0, eps = self._predict_x0_eps(model_output, sample, alpha_prod_t)
            x0 = self._clip(x0)
        else:
            # from the clean image itself (set_alpha_to_one): x0 is the sample; the noise estimate comes from
            # the network output read at t_next, where it was evaluated (an x0 or v output cannot be converted
            # at alphabar = 1, where sqrt(1 - alphabar) = 0)
            x0, eps = sample, self._predict_x0_eps(model_output, sample, alpha_prod_next)[1]
        next_sample = _ddim_update(x0, eps, alpha_prod_next)  # eq. 12 with sigma = 0, towards t_next
        return next_sample, x0
