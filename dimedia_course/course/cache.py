"""A cache of trained demo models, keyed by everything that determines the weights (so rebuilding the book does
not retrain unchanged demos).

``trained(key, build, fit)`` returns ``build()`` with the weights of ``fit(model)``, loaded from
``<cache>/<hash>.pt`` when a run with the same ``key`` (and the same package version) was cached before. The cache
folder is ``$DIMEDIA_CACHE`` or ``_build/.model_cache`` in the course root; files are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["cache_dir", "trained"]


def cache_dir() -> Path:
    default = Path(__file__).resolve().parents[2] / "_build" / ".model_cache"
    return Path(os.environ.get("DIMEDIA_CACHE", default))


def trained(key: dict, build: Callable[[], torch.nn.Module], fit: Callable[[torch.nn.Module], object]):
    """``(model, hit)``: the model of ``build()`` trained by ``fit`` (or loaded from the cache when ``hit``)."""
    import dimedia_course

    payload = json.dumps(
        {"key": key, "version": dimedia_course.__version__, "torch": torch.__version__}, sort_keys=True
    )
    path = cache_dir() / f"{hashlib.sha256(payload.encode()).hexdigest()[:20]}.pt"
    model = build()
    if path.is_file():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval(), True
    fit(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return model.eval(), False
