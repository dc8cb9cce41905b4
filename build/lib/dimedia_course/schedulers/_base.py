"""Shared machinery of the DDPM and DDIM schedulers (MONAI 1.6 / diffusers API).

A scheduler owns a noise schedule (betas, alphas, alphabar) and the list of *inference timesteps*
that a sampler visits, from the noisiest to the cleanest. ``set_timesteps`` chooses that list:

``timestep_spacing="trailing"`` (the course default)
    ``round(T - i * T / n) - 1`` for ``i = 0 .. n-1`` (diffusers; Lin et al. 2024, "Common diffusion noise
    schedules and sample steps are flawed", table 2): always starts at ``T - 1``, ends at ``T / n - 1``, and
    every step goes to the next timestep of the list. ``steps_offset`` is ignored, as in diffusers.
``timestep_spacing="leading"`` (MONAI parity)
    MONAI 1.6's ``set_timesteps``: ``round(linspace(T - 1 - steps_offset, 0, n)) + steps_offset``.
    (Note: diffusers calls this rule "linspace" and uses "leading" for
    ``arange(0, n) * (T // n) + steps_offset``; we keep MONAI's numbers under MONAI's default name.)
    In this mode ``step`` reproduces MONAI exactly, including how it picks the previous timestep:
    ``t - 1`` for DDPM and ``t - T // n`` for DDIM, which need not be the next listed timestep (the
    schedulers warn when a run lands off the timesteps the network is evaluated at).
``timestep_spacing="linspace"`` (diffusers)
    ``round(linspace(0, T - 1, n))`` reversed. ``steps_offset`` is ignored, as in diffusers.

For "trailing" and "linspace" every step goes to the *next timestep of the list* (the last one to
the clean image), so each step is consistent with the list it walks. The default is chosen per
scheduler with ``timestep_spacing=`` in the constructor and can be overridden in ``set_timesteps``.
"""

from __future__ import annotations

import numpy as np
import torch

from dimedia_course.forward import q_sample
from dimedia_course.losses import get_velocity, x0_eps_from_output
from dimedia_course.schedules import NoiseSchedule, canonical_schedule_name, make_beta_schedule
from dimedia_course.validation import as_int_timestep, check_prediction_type

TIMESTEP_SPACINGS = ("leading", "trailing", "linspace")

# MONAI schedule name -> our make_beta_schedule name; accepted keyword arguments of each schedule
_SCHEDULE_KWARGS = {
    "linear": ("beta_start", "beta_end"),
    "scaled_linear": ("beta_start", "beta_end"),
    "sigmoid": ("beta_start", "beta_end", "sig_range"),
    "cosine": ("s", "cosine_s"),
}


def _schedule_from_args(num_train_timesteps: int, schedule: str, schedule_args: dict) -> NoiseSchedule:
    canonical = canonical_schedule_name(schedule)
    allowed = _SCHEDULE_KWARGS[canonical]
    unknown = sorted(set(schedule_args) - set(allowed))
    if unknown:
        raise TypeError(f"schedule {schedule!r} got unexpected argument(s) {unknown}; allowed: {list(allowed)}")
    kwargs = dict(schedule_args)
    if "s" in kwargs:  # MONAI's name for the cosine offset
        kwargs["cosine_s"] = kwargs.pop("s")
    return NoiseSchedule(make_beta_schedule(canonical, num_train_timesteps, **kwargs))


class BaseScheduler:
    """Noise schedule + inference timesteps + ``add_noise``; subclasses implement ``step``."""

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        schedule: str = "linear_beta",
        prediction_type: str = "epsilon",
        clip_sample: bool = True,
        clip_sample_min: float = -1.0,
        clip_sample_max: float = 1.0,
        steps_offset: int = 0,
        timestep_spacing: str = "trailing",
        **schedule_args,
    ) -> None:
        check_prediction_type(prediction_type)
        if timestep_spacing not in TIMESTEP_SPACINGS:
            raise ValueError(f"unknown timestep_spacing {timestep_spacing!r}; expected one of {TIMESTEP_SPACINGS}")
        self.default_timestep_spacing = timestep_spacing
        if clip_sample_min >= clip_sample_max:
            raise ValueError(
                f"clip_sample_min ({clip_sample_min}) must be smaller than clip_sample_max ({clip_sample_max})"
            )
        self.schedule = _schedule_from_args(num_train_timesteps, schedule, schedule_args)
        self.num_train_timesteps = self.schedule.num_train_timesteps
        if isinstance(steps_offset, bool) or not isinstance(steps_offset, int):
            raise TypeError(f"steps_offset must be an int, got {type(steps_offset).__name__}")
        if not 0 <= steps_offset < self.num_train_timesteps:
            raise ValueError(f"steps_offset must lie in [0, {self.num_train_timesteps}), got {steps_offset}")
        self.steps_offset = steps_offset
        self.betas = self.schedule.betas
        self.alphas = self.schedule.alphas
        self.alphas_cumprod = self.schedule.alphas_cumprod
        # float64 copies for the step arithmetic: 1 - alphabar_t suffers cancellation in float32
        self._betas64 = self.betas.double()
        self._alphas64 = 1.0 - self._betas64
        self._alphas_cumprod64 = torch.cumprod(self._alphas64, dim=0)
        self.prediction_type = prediction_type
        self.clip_sample = bool(clip_sample)
        self.clip_sample_values = (float(clip_sample_min), float(clip_sample_max))
        self.init_noise_sigma = 1.0
        self.set_timesteps(self.num_train_timesteps)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(T={self.num_train_timesteps}, prediction_type={self.prediction_type!r}, "
            f"num_inference_steps={self.num_inference_steps}, timestep_spacing={self.timestep_spacing!r})"
        )

    # ------------------------------------------------------------------ timesteps
    def set_timesteps(self, num_inference_steps: int, device=None, timestep_spacing: str | None = None) -> None:
        """Choose the ``num_inference_steps`` timesteps visited at inference (descending LongTensor).

        See the module docstring for the three spacings; ``None`` uses the constructor's
        ``timestep_spacing``. ``device`` places ``self.timesteps``.
        """
        if timestep_spacing is None:
            timestep_spacing = self.default_timestep_spacing
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, (int, np.integer)):
            raise TypeError(f"num_inference_steps must be an int, got {type(num_inference_steps).__name__}")
        T, n = self.num_train_timesteps, int(num_inference_steps)
        if not 1 <= n <= T:
            raise ValueError(f"num_inference_steps must lie in [1, num_train_timesteps={T}], got {n}")
        if timestep_spacing == "leading":
            # MONAI 1.6 (float32 linspace, round half to even)
            offset = self.steps_offset
            timesteps = torch.linspace(T - 1 - offset, 0, n).round().long() + offset
        elif timestep_spacing == "trailing":
            timesteps = torch.tensor([round(T * (n - i) / n) - 1 for i in range(n)], dtype=torch.long)
        elif timestep_spacing == "linspace":
            timesteps = torch.from_numpy(np.linspace(0, T - 1, n).round()[::-1].astype(np.int64).copy())
        else:
            raise ValueError(f"unknown timestep_spacing {timestep_spacing!r}; expected one of {TIMESTEP_SPACINGS}")
        self.num_inference_steps = n
        self.timestep_spacing = timestep_spacing
        self.timesteps = timesteps.to(device) if device is not None else timesteps
        self._timestep_list = [int(v) for v in timesteps.tolist()]

    def previous_timestep(self, timestep) -> int:
        """The timestep a ``step`` at ``timestep`` moves to; ``-1`` means the clean image."""
        t = self._check_timestep(timestep)
        if self.timestep_spacing == "leading":
            return max(self._leading_previous(t), -1)
        i = self._timestep_list.index(t)
        return self._timestep_list[i + 1] if i + 1 < len(self._timestep_list) else -1

    def _leading_previous(self, t: int) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    # ------------------------------------------------------------------ checks
    def _check_timestep(self, timestep, allow_clean: bool = False) -> int:
        t = as_int_timestep(timestep)
        low = -1 if allow_clean else 0
        if not low <= t < self.num_train_timesteps:
            raise ValueError(f"timestep must lie in [{low}, {self.num_train_timesteps - 1}], got {t}")
        if self.timestep_spacing != "leading" and t >= 0 and t not in self._timestep_list:
            raise ValueError(
                f"timestep {t} is not one of the inference timesteps set by set_timesteps "
                f"(spacing {self.timestep_spacing!r}): {self._timestep_list[:8]}"
                f"{'...' if len(self._timestep_list) > 8 else ''}"
            )
        return t

    @staticmethod
    def _check_shapes(model_output: torch.Tensor, sample: torch.Tensor) -> None:
        if not torch.is_tensor(model_output) or not torch.is_tensor(sample):
            raise TypeError("model_output and sample must be tensors")
        if model_output.shape != sample.shape:
            raise ValueError(
                f"model_output shape {tuple(model_output.shape)} does not match sample shape {tuple(sample.shape)}"
            )

    # ------------------------------------------------------------------ helpers
    def _alpha_prod(self, t: int, clean_value: float = 1.0) -> float:
        """alphabar_t as a Python float (computed in float64); ``clean_value`` when t = -1."""
        return float(self._alphas_cumprod64[t]) if t >= 0 else float(clean_value)

    def _predict_x0_eps(self, model_output, sample, alpha_prod_t: float):
        """(x0, eps) from the network output (:func:`~dimedia_course.losses.x0_eps_from_output`), float64 alphabar."""
        return x0_eps_from_output(model_output, sample, alpha_prod_t, self.prediction_type)

    def predict_original_sample(self, model_output: torch.Tensor, timestep, sample: torch.Tensor) -> torch.Tensor:
        """The clean-image estimate that :meth:`step` uses at ``timestep`` (clipped when ``clip_sample``).

        Samplers with an x0 hook (data consistency, DPS) call this, change the estimate, and hand it
        back to ``step(..., pred_original_sample=...)``; it is differentiable in ``sample``.
        """
        t = self._check_timestep(timestep)
        self._check_shapes(model_output, sample)
        return self._clip(self._predict_x0_eps(model_output, sample, self._alpha_prod(t))[0])

    def _clip(self, x0: torch.Tensor) -> torch.Tensor:
        if self.clip_sample:
            return torch.clamp(x0, self.clip_sample_values[0], self.clip_sample_values[1])
        return x0

    @staticmethod
    def _randn_like(sample: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Standard normal noise shaped like ``sample``, drawn on the generator's device."""
        device = generator.device if generator is not None else sample.device
        noise = torch.randn(sample.shape, generator=generator, device=device, dtype=sample.dtype)
        return noise.to(sample.device)

    # ------------------------------------------------------------------ forward process
    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps) -> torch.Tensor:
        """``x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) eps`` (Ho et al. 2020, eq. 4), i.e.
        :func:`~dimedia_course.forward.q_sample`."""
        return q_sample(original_samples, timesteps, noise, self.alphas_cumprod)

    def get_velocity(self, sample: torch.Tensor, noise: torch.Tensor, timesteps) -> torch.Tensor:
        """``v = sqrt(alphabar_t) eps - sqrt(1 - alphabar_t) x_0`` (Salimans & Ho 2022), i.e.
        :func:`~dimedia_course.losses.get_velocity`."""
        return get_velocity(sample, noise, timesteps, self.alphas_cumprod)
