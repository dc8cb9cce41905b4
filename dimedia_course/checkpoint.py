"""Safe model checkpoints: weights plus plain-Python metadata.

A checkpoint is a dict ``{"format": ..., "state_dict": ..., "meta": {...}, "states": {...}}`` written with
:func:`torch.save`: the model's weights, plain metadata and, for a resumable training run, further state dicts
(EMA weights, optimiser, gradient scaler, ...). It is the one format of the package: the notebook loop, the
command-line runs of :mod:`dimedia_course.train` and the shipped checkpoints of :mod:`dimedia_course.pretrained`.
It is read back with ``torch.load(..., weights_only=True)``, which refuses to
run arbitrary pickled code (loading an untrusted ``.pt`` file can otherwise execute code), so the
metadata is restricted to numbers, strings, booleans, ``None`` and lists/tuples/dicts of them.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

FORMAT = "dimedia_course.checkpoint/1"
_PLAIN = (int, float, str, bool, type(None))


def _check_plain(value, where: str) -> None:
    """Raise TypeError unless ``value`` is plain Python data (safe for ``weights_only`` loading)."""
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"metadata key {where}[{k!r}] must be a str or int")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise TypeError(
        f"metadata {where} has type {type(value).__name__}; only int, float, str, bool, None and "
        "lists/tuples/dicts of them can be stored (convert tensors with .tolist())"
    )


def save_atomically(obj, path) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same folder and :func:`os.replace`, so that a
    kill leaves the previous file or the new one, never half of one; the temporary file is named after the
    process, so two processes writing the same path at once each replace it whole. Parent folders are created;
    returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_checkpoint(path, model: nn.Module, states: dict | None = None, **meta) -> Path:
    """Save ``model.state_dict()``, keyword metadata (e.g. ``config=...``, ``steps=...``) and ``states``, a dict of
    further state dicts (``{"ema": ..., "optimizer": ...}``; ``None`` values allowed), to ``path``.

    Parent folders are created and the file is written atomically (:func:`save_atomically`). Returns the path.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for key, value in meta.items():
        _check_plain(value, key)
    if states is not None and (not isinstance(states, dict) or not all(isinstance(k, str) for k in states)):
        raise TypeError("states must be a dict of named state dicts")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_atomically(
        {"format": FORMAT, "state_dict": state, "meta": dict(meta), "states": dict(states or {})}, path
    )


def load_checkpoint(path, model: nn.Module | None = None, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (``torch.load(weights_only=True)``).

    If ``model`` is given its weights are replaced in place; a missing/unexpected parameter or a
    shape mismatch raises a ValueError naming the parameters. Returns
    ``{"state_dict": ..., "meta": ..., "states": ...}`` (``states`` is ``{}`` for a checkpoint without them).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as err:  # corrupt file, truncated download, unsafe pickle, ...
        raise ValueError(f"could not read checkpoint {str(path)!r} (corrupt or not a safe checkpoint): {err}") from err
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ValueError(f"{str(path)!r} is not a dimedia_course checkpoint (no 'state_dict' entry)")
    state, meta = ckpt["state_dict"], ckpt.get("meta", {})
    if model is not None:
        own = model.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        mismatched = [
            f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
            for k in own
            if k in state and state[k].shape != own[k].shape
        ]
        if missing or unexpected or mismatched:
            lines = []
            if missing:
                lines.append(f"missing parameters: {missing[:5]}{' ...' if len(missing) > 5 else ''}")
            if unexpected:
                lines.append(f"unexpected parameters: {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
            if mismatched:
                lines.append("shape mismatch: " + "; ".join(mismatched[:5]))
            raise ValueError(
                f"checkpoint {str(path)!r} does not fit this model ({type(model).__name__}): " + " | ".join(lines)
            )
        model.load_state_dict(state)
    return {"state_dict": state, "meta": meta, "states": ckpt.get("states") or {}}


__all__ = ["save_atomically", "save_checkpoint", "load_checkpoint"]
