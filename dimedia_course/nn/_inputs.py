"""Input checks shared by the course networks (the ``model(x, t, y=None)`` calling convention).

A scalar or one-element ``t`` / ``y`` is spread over the batch; anything else must be ``(B,)``.
Errors name the argument and the expected shape, as the house style asks.
"""

from __future__ import annotations

import torch


def check_image_batch(x, in_channels: int) -> None:
    """``x`` must be a ``(B, in_channels, H, W)`` tensor."""
    if not torch.is_tensor(x) or x.ndim != 4:
        raise ValueError(f"x must be a tensor of shape (B, C, H, W), got {getattr(x, 'shape', type(x))}")
    if x.shape[1] != in_channels:
        raise ValueError(f"x has {x.shape[1]} channels but the model expects in_channels={in_channels}")


def batch_timesteps(t, batch: int, device) -> torch.Tensor:
    """Timesteps as a ``(batch,)`` tensor on ``device``."""
    t = torch.as_tensor(t, device=device)
    if t.ndim == 0 or t.numel() == 1:
        t = t.reshape(1).expand(batch)
    if t.shape != (batch,):
        raise ValueError(f"t must have shape (B,) = ({batch},), got {tuple(t.shape)}")
    return t


def batch_labels(y, batch: int, num_classes: int, device) -> torch.Tensor:
    """Class labels as a ``(batch,)`` long tensor in ``[0, num_classes]`` (``num_classes`` = null label)."""
    y = torch.as_tensor(y, device=device).long()
    if y.ndim == 0 or y.numel() == 1:
        y = y.reshape(1).expand(batch)
    if y.shape != (batch,):
        raise ValueError(f"y must have shape (B,) = ({batch},), got {tuple(y.shape)}")
    if y.min() < 0 or y.max() > num_classes:
        raise ValueError(f"labels y must be in [0, {num_classes}] ({num_classes} = null label)")
    return y
