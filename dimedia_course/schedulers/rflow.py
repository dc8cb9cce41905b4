"""Rectified flow / flow matching with the course's scheduler API, compatible with MONAI 1.6.1's
``monai.networks.schedulers.RFlowScheduler``.

The probability path is the straight line between a data sample and Gaussian noise

    x_s = (1 - s) x_0 + s eps,   s = t / T in [0, 1]    (s = 1: pure noise, s = 0: data)

(Liu et al. 2023, arXiv 2209.03003, eq. 1; Lipman et al. 2023, arXiv 2210.02747, eq. 20 and 23 with
``sigma_min = 0``). The network predicts the velocity *towards the data*, ``v = x_0 - eps`` (training
target :func:`~dimedia_course.losses.flow_velocity_target`), and sampling integrates the ODE
``dx/ds = -v(x, s)`` from ``s = 1`` to ``s = 0`` with Euler steps ``x <- x + (s - s') v``.

Conventions (MONAI's, which the course keeps):

- the timestep ``t`` runs over ``[0, T]`` (``T = num_train_timesteps``) with ``t = T`` the *noise* end,
  the direction of DDPM's timesteps; the flow-matching papers put noise at time 0 and data at time 1
  (Lipman et al.; Liu et al.), so their ``t`` is our ``1 - s`` and their velocity ``X_1 - X_0`` is our ``v``;
- inference timesteps ``T (1 - i/n)``, ``i = 0..n-1`` (optionally rounded, optionally shifted to the noisy
  end for large images with :func:`timestep_shift`, Esser et al. 2024, arXiv 2403.03206, eq. 23);
- training timesteps uniform or logit-normal (:func:`logit_normal_timesteps`, Esser et al. 2024, eq. 19).

Where the course differs from MONAI, and why:

- ``step`` without ``next_timestep`` goes to the *next listed timestep* (0 after the last). MONAI then
  uses ``dt = 1 / n``, which is the listed spacing only without the shift; with the shift MONAI's default
  step walks a different grid than the one the network is evaluated on (MONAI's own example passes
  ``next_timestep`` explicitly, which we match to float precision).
- ``transform_scale`` is applied. MONAI stores it but never passes it to ``timestep_transform``.
- continuous timesteps (``use_discrete_timesteps=False``) are kept in float32; MONAI casts the list to
  float16 (a resolution of 0.5 near ``T = 1000``), and its ``step`` then forms ``t - t_next`` in float16
  (up to 3e-3 different from ours in a 30-step run). With discrete timesteps we reproduce MONAI's
  float16-then-truncate quantisation exactly, so the lists and the steps are equal.
- ``sample_timesteps`` takes a ``generator`` (MONAI draws from the global RNG).
- ``add_noise`` accepts any ``(B, ...)`` tensor (MONAI's needs 4D or 5D).
"""

from __future__ import annotations

import numpy as np
import torch

from dimedia_course.losses import flow_velocity_target

__all__ = [
    "RFlowScheduler",
    "SAMPLE_METHODS",
    "flow_interpolant",
    "timestep_shift",
    "resolution_shift_ratio",
    "logit_normal_timesteps",
    "euler_step",
]

SAMPLE_METHODS = ("uniform", "logit-normal")


def flow_interpolant(x0: torch.Tensor, noise: torch.Tensor, s) -> torch.Tensor:
    """``x_s = (1 - s) x_0 + s eps`` (Liu et al. 2023, eq. 1; Lipman et al. 2023, eq. 20 with
    ``mu_t = t x_1``, ``sigma_t = 1 - t``, ``sigma_min = 0``, time reversed). ``s`` is a float or a
    ``(B,)`` tensor of values in ``[0, 1]``; ``x0`` and ``noise`` are ``(B, ...)``."""
    if noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    s = torch.as_tensor(s, dtype=x0.dtype, device=x0.device)
    if s.ndim == 1:
        s = s.reshape(-1, *([1] * (x0.ndim - 1)))
    return (1 - s) * x0 + s * noise


def resolution_shift_ratio(
    input_img_size_numel, base_img_size_numel: int, spatial_dim: int, transform_scale: float = 1.0
) -> float:
    """The shift ``alpha = (m / n)^(1/d) * scale`` for an image of ``m`` voxels trained at ``n`` in ``d``
    dimensions: Esser et al. 2024, sec. 5.3.2, ``alpha = sqrt(m / n)`` for 2D images, generalised per axis
    as in MONAI's ``timestep_transform``."""
    numel = float(torch.as_tensor(input_img_size_numel).item())
    if not numel > 0 or not base_img_size_numel > 0:
        raise ValueError(f"image sizes must be positive, got {numel} and {base_img_size_numel}")
    return (numel / float(base_img_size_numel)) ** (1.0 / spatial_dim) * transform_scale


def timestep_shift(s, ratio: float):
    """``s' = alpha s / (1 + (alpha - 1) s)`` (Esser et al. 2024, eq. 23, written for our noise-at-1 time):
    keeps the signal-to-noise ratio of a ``alpha^2``-times smaller image; ``alpha > 1`` moves the steps
    towards the noise end. Works on floats and tensors; ``s`` in ``[0, 1]``."""
    return ratio * s / (1 + (ratio - 1) * s)


def logit_normal_timesteps(n: int, loc: float = 0.0, scale: float = 1.0, generator=None, device=None) -> torch.Tensor:
    """``n`` draws of ``s = sigmoid(u)``, ``u ~ N(loc, scale^2)``: the logit-normal density
    ``pi(s) = exp(-(logit s - loc)^2 / (2 scale^2)) / (scale sqrt(2 pi) s (1 - s))`` (Esser et al. 2024,
    eq. 19). (MONAI draws the same law as the first coordinate of ``torch.distributions.LogisticNormal``.)"""
    gen_device = generator.device if generator is not None else device
    u = torch.randn(n, generator=generator, device=gen_device)
    return torch.sigmoid(loc + scale * u).to(device)


def euler_step(sample: torch.Tensor, velocity: torch.Tensor, s: float, s_next: float) -> torch.Tensor:
    """One Euler step of ``dx/ds = -v`` from ``s`` to ``s_next < s``: ``x + (s - s_next) v`` (Liu et al.
    2023, eq. 2 discretised; Lipman et al. 2023, sec. 6 use an ODE solver on the same field)."""
    return sample + velocity * (s - s_next)


class RFlowScheduler:
    """Rectified-flow scheduler (Liu et al. 2023; Esser et al. 2024) with MONAI 1.6.1's arguments.

    Args:
        num_train_timesteps: ``T``; timesteps live in ``[0, T]`` with ``T`` the noise end.
        use_discrete_timesteps: round the timesteps to integers (MONAI's default ``True``).
        sample_method: training timesteps ``"uniform"`` or ``"logit-normal"`` (Esser et al. 2024, eq. 19).
        loc, scale: parameters of the logit-normal law.
        use_timestep_transform: shift the timesteps to the noisy end for images larger than
            ``base_img_size_numel`` (:func:`timestep_shift`).
        transform_scale: extra factor on the shift ratio.
        steps_offset: added to the inference timesteps (as MONAI).
        base_img_size_numel: number of voxels of the reference resolution.
        spatial_dim: 2 or 3, the dimension used by :meth:`set_timesteps` for the shift.
    """

    prediction_type = "flow_velocity"  # x_0 - eps; MONAI calls it "v_prediction" (not Salimans & Ho's v)

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        use_discrete_timesteps: bool = True,
        sample_method: str = "uniform",
        loc: float = 0.0,
        scale: float = 1.0,
        use_timestep_transform: bool = False,
        transform_scale: float = 1.0,
        steps_offset: int = 0,
        base_img_size_numel: int = 32 * 32 * 32,
        spatial_dim: int = 3,
    ) -> None:
        if isinstance(num_train_timesteps, bool) or not isinstance(num_train_timesteps, int) or num_train_timesteps < 1:
            raise ValueError(f"num_train_timesteps must be a positive int, got {num_train_timesteps!r}")
        if sample_method not in SAMPLE_METHODS:
            raise ValueError(f"unknown sample_method {sample_method!r}; expected one of {SAMPLE_METHODS}")
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        if spatial_dim not in (1, 2, 3):
            raise ValueError(f"spatial_dim must be 1, 2 or 3, got {spatial_dim!r}")
        if not transform_scale > 0:
            raise ValueError(f"transform_scale must be > 0, got {transform_scale!r}")
        self.num_train_timesteps = num_train_timesteps
        self.use_discrete_timesteps = bool(use_discrete_timesteps)
        self.sample_method = sample_method
        self.loc, self.scale = float(loc), float(scale)
        self.use_timestep_transform = bool(use_timestep_transform)
        self.transform_scale = float(transform_scale)
        self.steps_offset = int(steps_offset)
        self.base_img_size_numel = int(base_img_size_numel)
        self.spatial_dim = int(spatial_dim)
        self.init_noise_sigma = 1.0
        self.input_img_size_numel = None
        self.set_timesteps(num_train_timesteps if not use_timestep_transform else 1, input_img_size_numel=1)
        self.input_img_size_numel = None  # with the shift, set_timesteps must be told the image size

    def __repr__(self) -> str:
        return (
            f"RFlowScheduler(T={self.num_train_timesteps}, num_inference_steps={self.num_inference_steps}, "
            f"discrete={self.use_discrete_timesteps}, shift={self.use_timestep_transform})"
        )

    # ------------------------------------------------------------------ timesteps
    def _shift(self, t, input_img_size_numel, spatial_dim: int):
        """:func:`timestep_shift` on timesteps ``t`` in ``[0, T]``."""
        T = self.num_train_timesteps
        ratio = resolution_shift_ratio(
            input_img_size_numel, self.base_img_size_numel, spatial_dim, self.transform_scale
        )
        return timestep_shift(t / T, ratio) * T

    def set_timesteps(self, num_inference_steps: int, device=None, input_img_size_numel=None) -> None:
        """The ``n`` inference timesteps ``T (1 - i / n)``, ``i = 0 .. n-1`` (descending; MONAI's rule),
        rounded when ``use_discrete_timesteps``, shifted by :func:`timestep_shift` when
        ``use_timestep_transform`` (``input_img_size_numel``: the voxels per image, e.g. ``H * W``; the
        last value given is kept, so :func:`dimedia_course.sampling.sample` can call this again)."""
        T = self.num_train_timesteps
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, (int, np.integer)):
            raise TypeError(f"num_inference_steps must be an int, got {type(num_inference_steps).__name__}")
        n = int(num_inference_steps)
        if not 1 <= n <= T:
            raise ValueError(f"num_inference_steps must lie in [1, num_train_timesteps={T}], got {n}")
        if input_img_size_numel is not None:
            self.input_img_size_numel = float(torch.as_tensor(input_img_size_numel).item())
        if self.use_timestep_transform and self.input_img_size_numel is None:
            raise ValueError("use_timestep_transform=True needs input_img_size_numel= (voxels per image, H*W[*D])")
        timesteps = [(1.0 - i / n) * T for i in range(n)]
        if self.use_discrete_timesteps:
            timesteps = [float(round(t)) for t in timesteps]
        if self.use_timestep_transform:
            timesteps = [self._shift(t, self.input_img_size_numel, self.spatial_dim) for t in timesteps]
        if self.use_discrete_timesteps:  # MONAI's quantisation: float16, then truncation
            values = torch.from_numpy(np.array(timesteps).astype(np.float16).astype(np.int64))
        else:
            values = torch.tensor(timesteps, dtype=torch.float32)
        values = values + self.steps_offset
        self.num_inference_steps = n
        self.timesteps = values.to(device) if device is not None else values
        self._timestep_list = [v.item() for v in values]

    def sample_timesteps(self, x_start: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training timesteps ``(B,)`` for a batch ``x_start`` ``(B, C, ...)``: ``T s`` with ``s`` uniform
        or logit-normal (Esser et al. 2024, eq. 19), truncated to integers when discrete, then shifted by
        the resolution of ``x_start`` when ``use_timestep_transform`` (MONAI's order and types)."""
        if not torch.is_tensor(x_start) or x_start.ndim < 3:
            raise ValueError("x_start must be a tensor shaped (B, C, ...)")
        B, device, T = x_start.shape[0], x_start.device, self.num_train_timesteps
        if self.sample_method == "uniform":
            gen_device = generator.device if generator is not None else device
            s = torch.rand(B, generator=generator, device=gen_device).to(device)
        else:
            s = logit_normal_timesteps(B, self.loc, self.scale, generator=generator, device=device)
        t = s * T
        if self.use_discrete_timesteps:
            t = t.long()
        if self.use_timestep_transform:
            numel = int(np.prod(x_start.shape[2:]))
            t = self._shift(t, numel, x_start.ndim - 2)
        return t

    # ------------------------------------------------------------------ forward process
    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps) -> torch.Tensor:
        """``x_t = (1 - t/T) x_0 + (t/T) eps`` (:func:`flow_interpolant`), ``timesteps`` ``(B,)`` or one value."""
        t = torch.as_tensor(timesteps, device=original_samples.device).float().reshape(-1)
        if t.numel() == 1:
            t = t.expand(original_samples.shape[0])
        if t.shape[0] != original_samples.shape[0]:
            raise ValueError(f"timesteps must be one value or ({original_samples.shape[0]},), got {tuple(t.shape)}")
        return flow_interpolant(original_samples, noise, t / self.num_train_timesteps)

    def get_velocity(self, sample: torch.Tensor, noise: torch.Tensor, timesteps=None) -> torch.Tensor:
        """The training target ``x_0 - eps`` (:func:`~dimedia_course.losses.flow_velocity_target`)."""
        return flow_velocity_target(sample, noise)

    # ------------------------------------------------------------------ reverse step
    def previous_timestep(self, timestep):
        """The listed timestep after ``timestep`` (0 after the last one)."""
        t = timestep.item() if torch.is_tensor(timestep) else timestep
        if t not in self._timestep_list:
            raise ValueError(
                f"timestep {t} is not one of the inference timesteps set by set_timesteps: "
                f"{self._timestep_list[:8]}{'...' if len(self._timestep_list) > 8 else ''}; pass next_timestep="
            )
        i = self._timestep_list.index(t)
        return self._timestep_list[i + 1] if i + 1 < len(self._timestep_list) else 0

    def step(
        self,
        model_output: torch.Tensor,
        timestep,
        sample: torch.Tensor,
        next_timestep=None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One Euler step (:func:`euler_step`) from ``timestep`` to ``next_timestep`` (default: the next
        listed timestep, 0 after the last). Returns ``(next_sample, pred_original_sample)`` with
        ``x0_hat = x + (t/T) v`` (the end of the straight line through ``x`` with slope ``v``).
        ``generator`` is accepted for the sampling loop and unused (the step is deterministic)."""
        if not torch.is_tensor(model_output) or not torch.is_tensor(sample):
            raise TypeError("model_output and sample must be tensors")
        if model_output.shape != sample.shape:
            raise ValueError(
                f"model_output shape {tuple(model_output.shape)} does not match sample shape {tuple(sample.shape)}"
            )
        t = float(timestep.item() if torch.is_tensor(timestep) else timestep)
        t_next = float(self.previous_timestep(timestep) if next_timestep is None else next_timestep)
        T = self.num_train_timesteps
        if not 0 <= t_next <= t <= T + self.steps_offset:
            raise ValueError(f"need 0 <= next_timestep <= timestep <= {T + self.steps_offset}, got {t_next}, {t}")
        prev_sample = euler_step(sample, model_output, t / T, t_next / T)
        return prev_sample, sample + model_output * (t / T)
