"""Device selection and reproducible randomness.

Everything in the course runs on the CPU; when a CUDA or Apple-silicon (MPS) device is present it
is used automatically. Randomness is drawn from *local* :class:`torch.Generator` objects so that a
seed fixes a result without touching global state (important for autograding and for tests).
"""

from __future__ import annotations

import random

import numpy as np
import torch

_VALID = ("cpu", "cuda", "mps")


def get_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on.

    Args:
        preferred: ``None`` or ``"auto"`` picks CUDA, then MPS, then CPU. A device name
            (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) or :class:`torch.device` is honoured,
            and an unavailable accelerator raises a clear error instead of failing later.
    """
    if preferred is None or preferred == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preferred)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {preferred!r}; expected one of {_VALID} or 'auto'") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {preferred!r} requested but CUDA is not available on this machine")
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise RuntimeError(f"device {preferred!r} requested but MPS is not available on this machine")
    if device.type not in _VALID:
        raise ValueError(f"unsupported device type {device.type!r}; expected one of {_VALID}")
    return device


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A local random generator seeded with ``seed`` (no global state is changed).

    Random tensors should be drawn with ``torch.randn(..., generator=g)`` on the generator's
    device; MPS has no device generators, so a CPU generator is returned there.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    device = torch.device(device)
    gen_device = "cpu" if device.type == "mps" else device
    generator = torch.Generator(device=gen_device)
    generator.manual_seed(seed)
    return generator


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch global generators (for scripts and notebooks only).

    Library code never calls this: it takes a ``generator`` argument instead.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
