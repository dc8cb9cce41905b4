"""Input checks shared by the whole package (the lowest layer: it imports only torch and numpy).

Every public function raises a ``TypeError``/``ValueError`` whose message names the argument and what
was expected, and returns the (possibly converted) value so that callers can write
``x = check_images(x, "x")``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "PREDICTION_TYPES",
    "check_prediction_type",
    "check_positive_int",
    "check_images",
    "check_binary_mask",
    "check_labels",
    "check_condition",
    "check_alphas_cumprod",
    "check_scheduler",
    "as_int_timestep",
    "batch_timesteps",
    "batch_labels",
    "model_device",
]

# What a denoiser predicts (Ho et al. 2020: epsilon; x_0 "sample"; Salimans & Ho 2022: velocity).
PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


def check_prediction_type(prediction_type: str) -> str:
    """``prediction_type`` must be one of :data:`PREDICTION_TYPES`."""
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; expected one of {PREDICTION_TYPES}")
    return prediction_type


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` must be a Python/NumPy int ``>= minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_images(x, name: str, channels: int | None = None, ndim: int | tuple[int, ...] = 4) -> torch.Tensor:
    """``x`` must be a floating-point tensor ``(B, C, H, W)`` (``ndim=(4, 5)`` also allows volumes)."""
    dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor shaped (B, C, H, W), got {type(x).__name__}")
    if x.ndim not in dims:
        shape = "(B, C, H, W)" if dims == (4,) else "(B, C, H, W) or (B, C, D, H, W)"
        raise ValueError(f"{name} must be shaped {shape}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s), got {x.shape[1]}")
    return x


def check_binary_mask(mask, name: str) -> torch.Tensor:
    """``mask`` must hold only 0 and 1; returned as float (bool masks are converted)."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype == torch.bool:
        return mask.float()
    if not torch.all((mask == 0) | (mask == 1)):
        raise ValueError(f"{name} must be a binary mask with values in {{0, 1}}")
    return mask.float()


def check_labels(y, x: torch.Tensor, name: str = "y") -> torch.Tensor:
    """``y`` must be an integer tensor of class labels shaped ``(B,)`` like the batch ``x``."""
    if not torch.is_tensor(y):
        raise TypeError(f"{name} must be a LongTensor of class labels, got {type(y).__name__}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{name} must be shaped ({x.shape[0]},) to match the batch, got {tuple(y.shape)}")
    return y.to(x.device).long()


def check_condition(condition, x: torch.Tensor, name: str = "concat_condition"):
    """``condition`` (or None) must be ``(B, Cc, *spatial)`` with the batch and spatial size of ``x``."""
    if condition is None:
        return None
    if not torch.is_tensor(condition):
        raise TypeError(f"{name} must be a tensor, got {type(condition).__name__}")
    if condition.ndim != x.ndim or condition.shape[0] != x.shape[0] or condition.shape[2:] != x.shape[2:]:
        spatial = ", ".join(map(str, x.shape[2:]))
        raise ValueError(
            f"{name} must be shaped ({x.shape[0]}, Cc, {spatial}) like the samples, got {tuple(condition.shape)}"
        )
    return condition.to(device=x.device, dtype=x.dtype)


def check_alphas_cumprod(obj) -> torch.Tensor:
    """Accept a 1-D tensor of alphabar_t, a NoiseSchedule or a scheduler (anything with ``.alphas_cumprod``)."""
    if hasattr(obj, "alphas_cumprod"):
        obj = obj.alphas_cumprod
    if not torch.is_tensor(obj):
        raise TypeError(
            f"alphas_cumprod must be a 1-D tensor, a NoiseSchedule or a scheduler, got {type(obj).__name__}"
        )
    if obj.ndim != 1:
        raise ValueError(f"alphas_cumprod must be 1-D, got shape {tuple(obj.shape)}")
    return obj


def check_scheduler(scheduler, name: str = "scheduler") -> None:
    """``scheduler`` must look like a DDPM/DDIM scheduler (ours or MONAI's)."""
    for attr in ("alphas_cumprod", "num_train_timesteps", "set_timesteps", "step", "timesteps"):
        if not hasattr(scheduler, attr):
            raise TypeError(f"{name} must be a DDPM/DDIM scheduler with .{attr}; got {type(scheduler).__name__}")


def as_int_timestep(timestep, name: str = "timestep") -> int:
    """A single timestep given as a Python/NumPy int or a one-element integer tensor."""
    if torch.is_tensor(timestep):
        if timestep.numel() != 1:
            raise ValueError(f"{name} must be a single integer timestep, got a tensor of shape {tuple(timestep.shape)}")
        if timestep.dtype.is_floating_point:
            raise TypeError(f"{name} must be an integer, got a tensor of dtype {timestep.dtype}")
        return int(timestep.item())
    if isinstance(timestep, (int, np.integer)) and not isinstance(timestep, bool):
        return int(timestep)
    raise TypeError(f"{name} must be an int or a one-element integer tensor, got {type(timestep).__name__}")


def batch_timesteps(t, batch: int, device, allow_float: bool = False) -> torch.Tensor:
    """Timesteps as a ``(batch,)`` tensor on ``device`` (a scalar is spread over the batch): integers as a
    LongTensor; with ``allow_float`` float timesteps (a rectified flow's continuous times) are kept, as float32
    (float64 stays float64), and integers are still returned as a LongTensor."""
    t = torch.as_tensor(t, device=device)
    if t.dtype == torch.bool or (t.dtype.is_floating_point and not allow_float) or t.is_complex():
        raise TypeError(f"t must hold {'real' if allow_float else 'integer'} timesteps, got dtype {t.dtype}")
    if t.ndim == 0 or t.numel() == 1:
        t = t.reshape(1).expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must be a scalar or shaped (B,) = ({batch},), got {tuple(t.shape)}")
    if t.dtype.is_floating_point:
        return t if t.dtype == torch.float64 else t.float()
    return t.long()


def batch_labels(y, batch: int, num_classes: int, device) -> torch.Tensor:
    """Class labels as a ``(batch,)`` LongTensor in ``[0, num_classes]`` (``num_classes`` = null label)."""
    y = torch.as_tensor(y, device=device)
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    y = y.long()
    if y.ndim == 0 or y.numel() == 1:
        y = y.reshape(1).expand(batch)
    if y.shape != (batch,):
        raise ValueError(f"y must have shape (B,) = ({batch},), got {tuple(y.shape)}")
    if y.min() < 0 or y.max() > num_classes:
        raise ValueError(f"labels y must be in [0, {num_classes}] ({num_classes} = null label)")
    return y


def model_device(model) -> torch.device:
    """The device of ``model``'s parameters (CPU for a parameter-free callable)."""
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    return params[0].device if params else torch.device("cpu")
