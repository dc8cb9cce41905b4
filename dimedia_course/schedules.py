"""Noise (beta) schedules of the forward diffusion process.

A schedule is a sequence ``beta_1 .. beta_T`` of per-step noise variances. Everything else follows
from it (Ho et al. 2020, eq. 2 and 4):

    alpha_t     = 1 - beta_t
    alphabar_t  = prod_{s <= t} alpha_s                    (``alphas_cumprod``)
    q(x_t | x_0) = N(sqrt(alphabar_t) x_0, (1 - alphabar_t) I)

and the signal-to-noise ratio ``SNR(t) = alphabar_t / (1 - alphabar_t)`` (Kingma et al. 2021,
"Variational Diffusion Models", eq. 2-3) which must decrease monotonically with ``t``; the
variance-exploding process with the same SNR has noise level ``sigma_t = SNR(t)^(-1/2)``
(:meth:`NoiseSchedule.ve_sigma`).

Schedules implemented here (indices are 0-based, ``t = 0 .. T-1``):

- ``"linear"``: betas linearly spaced from ``beta_start`` to ``beta_end`` (Ho et al. 2020, sec. 4).
- ``"scaled_linear"``: the *square roots* of the betas are linearly spaced, as used by latent
  diffusion / Stable Diffusion (Rombach et al. 2022).
- ``"cosine"``: ``alphabar(t) = f(t)/f(0)`` with ``f(t) = cos^2(((t/T + s)/(1 + s)) * pi/2)``,
  betas ``1 - alphabar_t/alphabar_{t-1}`` clipped at 0.999 (Nichol & Dhariwal 2021, eq. 17).
- ``"sigmoid"``: betas follow a sigmoid between ``beta_start`` and ``beta_end``
  (Xu et al. 2022, GeoDiff; as in MONAI's ``sigmoid_beta``).

MONAI names (``"linear_beta"``, ``"scaled_linear_beta"``, ``"sigmoid_beta"``, ``"cosine"``) are
accepted as aliases. Values are computed in float64 and stored as float32.
"""

from __future__ import annotations

import math

import torch

__all__ = ["SCHEDULE_NAMES", "canonical_schedule_name", "make_beta_schedule", "NoiseSchedule", "extract"]

# canonical name -> accepted spellings
_ALIASES = {
    "linear": ("linear", "linear_beta"),
    "scaled_linear": ("scaled_linear", "scaled_linear_beta"),
    "cosine": ("cosine", "cosine_beta"),
    "sigmoid": ("sigmoid", "sigmoid_beta"),
}
SCHEDULE_NAMES = tuple(name for names in _ALIASES.values() for name in names)


def canonical_schedule_name(name: str) -> str:
    """The canonical name of a beta schedule given in any accepted spelling (e.g. MONAI's ``"linear_beta"``)."""
    if not isinstance(name, str):
        raise TypeError(f"schedule name must be a str, got {type(name).__name__}")
    for canonical, names in _ALIASES.items():
        if name.lower() in names:
            return canonical
    raise ValueError(f"unknown schedule {name!r}; expected one of {SCHEDULE_NAMES}")


def _check_num_timesteps(num_train_timesteps) -> int:
    if isinstance(num_train_timesteps, bool) or not isinstance(num_train_timesteps, int):
        raise TypeError(f"num_train_timesteps must be an int, got {type(num_train_timesteps).__name__}")
    if num_train_timesteps < 1:
        raise ValueError(f"num_train_timesteps must be >= 1, got {num_train_timesteps}")
    return num_train_timesteps


def _cosine_betas(num_train_timesteps: int, s: float) -> torch.Tensor:
    """Nichol & Dhariwal 2021, eq. 17: alphabar from a squared cosine, betas clipped at 0.999."""
    steps = torch.linspace(0, num_train_timesteps, num_train_timesteps + 1, dtype=torch.float64)
    f = torch.cos((steps / num_train_timesteps + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    betas = 1.0 - alphas_cumprod[1:] / alphas_cumprod[:-1]
    # clipping avoids a singularity at t = T where alphabar reaches 0
    return betas.clamp(0.0, 0.999)


def make_beta_schedule(
    name: str,
    num_train_timesteps: int = 1000,
    beta_start: float = 1e-4,
    beta_end: float = 2e-2,
    cosine_s: float = 0.008,
    sig_range: float = 6.0,
) -> torch.Tensor:
    """Return the betas of a named schedule as a float32 tensor of shape ``(num_train_timesteps,)``.

    Args:
        name: ``"linear"`` (Ho et al. 2020), ``"scaled_linear"`` (Rombach et al. 2022),
            ``"cosine"`` (Nichol & Dhariwal 2021, eq. 17), ``"sigmoid"`` (Xu et al. 2022), or the
            MONAI aliases ``"linear_beta"``, ``"scaled_linear_beta"``, ``"sigmoid_beta"``.
        num_train_timesteps: number of diffusion steps ``T``.
        beta_start, beta_end: first and last beta (ignored by ``"cosine"``).
        cosine_s: offset ``s`` of the cosine schedule (0.008 in the paper).
        sig_range: the sigmoid schedule spans ``sigmoid(-sig_range) .. sigmoid(sig_range)``.
    """
    canonical = canonical_schedule_name(name)
    T = _check_num_timesteps(num_train_timesteps)
    if canonical == "cosine":
        if cosine_s < 0:
            raise ValueError(f"cosine_s must be >= 0, got {cosine_s}")
        betas = _cosine_betas(T, float(cosine_s))
    else:
        if not (0.0 < beta_start <= beta_end < 1.0):
            raise ValueError(
                f"expected 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}"
            )
        if canonical == "linear":
            betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
        elif canonical == "scaled_linear":
            betas = torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=torch.float64) ** 2
        else:  # sigmoid
            z = torch.linspace(-sig_range, sig_range, T, dtype=torch.float64)
            betas = torch.sigmoid(z) * (beta_end - beta_start) + beta_start
    return betas.to(torch.float32)


def extract(values: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
    """Gather ``values[t]`` and reshape to ``(B, 1, 1, ...)`` so it broadcasts against ``like``.

    ``t`` may be an int, a 0-d tensor or a ``(B,)`` tensor of integer timesteps. The result has the
    device and dtype of ``like``.
    """
    values = torch.as_tensor(values)
    t = torch.as_tensor(t, device=values.device)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(f"timesteps t must be integers, got dtype {t.dtype}")
    if t.ndim > 1:
        raise ValueError(f"timesteps t must be a scalar or a 1-D tensor, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError("timesteps t must not be empty")
    if int(t.min()) < 0 or int(t.max()) >= values.shape[0]:
        raise ValueError(
            f"timesteps t must lie in [0, {values.shape[0] - 1}], got min {int(t.min())}, max {int(t.max())}"
        )
    if t.ndim == 1 and t.shape[0] not in (1, like.shape[0]):
        raise ValueError(f"timesteps t has {t.shape[0]} entries but the batch has {like.shape[0]} samples")
    out = values[t.long()].to(device=like.device, dtype=like.dtype)
    if out.ndim == 0:
        return out
    return out.reshape(out.shape[0], *([1] * (like.ndim - 1)))


class NoiseSchedule:
    """A beta schedule with the quantities derived from it (Ho et al. 2020, eq. 4).

    Attributes (float32 tensors of shape ``(T,)``): ``betas``, ``alphas``, ``alphas_cumprod``,
    ``alphas_cumprod_prev`` (alphabar_{t-1}, with alphabar_{-1} = 1), and ``num_train_timesteps``.
    ``alphas_cumprod`` is accumulated in float64 before being stored in float32.
    """

    def __init__(self, betas) -> None:
        betas = torch.as_tensor(betas)
        if betas.ndim != 1 or betas.numel() == 0:
            raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
        if not betas.dtype.is_floating_point:
            raise TypeError(f"betas must be floating point, got dtype {betas.dtype}")
        b64 = betas.detach().to("cpu", torch.float64)
        if bool((b64 <= 0).any()) or bool((b64 >= 1).any()):
            raise ValueError("betas must lie in the open interval (0, 1)")
        alphas_cumprod = torch.cumprod(1.0 - b64, dim=0)
        self.betas = b64.to(torch.float32)
        self.alphas = (1.0 - b64).to(torch.float32)
        self.alphas_cumprod = alphas_cumprod.to(torch.float32)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]]).float()
        self.num_train_timesteps = int(betas.shape[0])

    @classmethod
    def from_name(cls, name: str, num_train_timesteps: int = 1000, **kwargs) -> NoiseSchedule:
        """Build from a named schedule; ``kwargs`` go to :func:`make_beta_schedule`."""
        return cls(make_beta_schedule(name, num_train_timesteps, **kwargs))

    def __len__(self) -> int:
        return self.num_train_timesteps

    def __repr__(self) -> str:
        return (
            f"NoiseSchedule(T={self.num_train_timesteps}, beta=[{self.betas[0].item():.3g}, "
            f"{self.betas[-1].item():.3g}], alphabar_T={self.alphas_cumprod[-1].item():.3g})"
        )

    def _timesteps(self, t):
        if t is None:
            return torch.arange(self.num_train_timesteps)
        t = torch.as_tensor(t)
        if t.dtype.is_floating_point:
            raise TypeError(f"timesteps t must be integers, got dtype {t.dtype}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_train_timesteps):
            raise ValueError(f"timesteps t must lie in [0, {self.num_train_timesteps - 1}]")
        return t.long().cpu()

    def snr(self, t=None) -> torch.Tensor:
        """Signal-to-noise ratio alphabar_t / (1 - alphabar_t) (Kingma et al. 2021, eq. 2).

        ``t=None`` returns the SNR at every timestep.
        """
        ab = self.alphas_cumprod.double()[self._timesteps(t)]
        return (ab / (1.0 - ab)).float()

    def log_snr(self, t=None) -> torch.Tensor:
        """Natural log of :meth:`snr` (the quantity lambda_t of Kingma et al. 2021)."""
        ab = self.alphas_cumprod.double()[self._timesteps(t)]
        return (torch.log(ab) - torch.log1p(-ab)).float()

    def ve_sigma(self, t=None) -> torch.Tensor:
        """Noise level ``sigma_t = sqrt((1 - alphabar_t) / alphabar_t) = SNR(t)^(-1/2)`` of the variance-exploding
        process ``x_0 + sigma_t eps`` (Song & Ermon 2019) with the same SNR: ``x^VE = x^VP / sqrt(alphabar_t)``
        (Song et al. 2021, sec. 3.4; Kingma et al. 2021, eq. 2-3).

        ``t=None`` returns it at every timestep.
        """
        ab = self.alphas_cumprod.double()[self._timesteps(t)]
        return ((1.0 - ab) / ab).sqrt().float()
