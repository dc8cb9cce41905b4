"""Synthetic lesions on healthy images, for anomaly detection and segmentation.

Unsupervised anomaly detection with diffusion models (Wolleb et al. 2022, MICCAI; Pinaya et al.
2022, MICCAI DGM4MICCAI) trains on *healthy* images only and flags what the model cannot
reproduce. To evaluate it without patient data we paint simple lesions (bright or dark, roughly
round blobs with soft edges) into healthy MNI152 slices and keep the exact ground-truth masks,
the same idea as the synthetic anomalies used for evaluation in those works' ablations.
"""

from __future__ import annotations

import torch

from dimedia_course.device import make_generator


def _as_range(value, name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), float(value)
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or a (low, high) pair, got {value!r}") from None
    if lo > hi:
        raise ValueError(f"{name} must satisfy low <= high, got {value!r}")
    return lo, hi


def _uniform(lo: float, hi: float, generator: torch.Generator) -> float:
    return lo + (hi - lo) * float(torch.rand(1, generator=generator))


def add_synthetic_lesions(
    images: torch.Tensor,
    n_lesions: int | tuple[int, int] = 1,
    radius: float | tuple[float, float] = (2.0, 6.0),
    intensity: float | tuple[float, float] = (0.9, 1.0),
    mask_region: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    *,
    seed: int = 0,
    edge: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paint round lesions into ``images`` ``(N, C, H, W)`` in ``[-1, 1]``; return ``(images, masks)``.

    Each lesion is an ellipse with semi-axes drawn from ``radius`` (pixels, aspect up to 1.5),
    centred on a random pixel of ``mask_region`` (default: the foreground, pixels > -0.8), and
    blended towards a target intensity with a soft edge of width ``edge`` pixels:
    ``x <- x + (v - x) * w`` with ``w`` falling from 1 inside to 0 outside. The mask is
    ``w > 0.5`` (binary ``{0, 1}``, shape ``(N, 1, H, W)``).

    Args:
        images: healthy images.
        n_lesions: lesions per image, an int or an inclusive ``(min, max)`` range.
        radius: lesion radius in pixels, a number or a ``(min, max)`` range.
        intensity: target intensity ``v`` in ``[-1, 1]`` (bright lesions by default; negative values
            give dark lesions), a number or ``(min, max)`` range.
        mask_region: ``(N, 1, H, W)`` or ``(1, 1, H, W)`` where lesion centres may lie (e.g. a brain mask).
        generator: local random generator (default ``make_generator(seed)``).
        edge: soft-edge width in pixels (0 = hard edge).
    """
    if not torch.is_tensor(images) or images.ndim != 4:
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    n, c, h, w = images.shape
    n_lo, n_hi = (n_lesions, n_lesions) if isinstance(n_lesions, int) else tuple(int(v) for v in n_lesions)
    if n_lo < 0 or n_lo > n_hi:
        raise ValueError(f"n_lesions must be >= 0 (or a (min, max) range), got {n_lesions!r}")
    r_lo, r_hi = _as_range(radius, "radius")
    if r_lo <= 0:
        raise ValueError(f"radius must be positive, got {radius!r}")
    v_lo, v_hi = _as_range(intensity, "intensity")
    if not -1.0 <= v_lo <= v_hi <= 1.0:
        raise ValueError(f"intensity must lie in [-1, 1], got {intensity!r}")
    if mask_region is None:
        region = (images.amax(dim=1, keepdim=True) > -0.8).float()
    else:
        region = torch.as_tensor(mask_region).float()
        if region.ndim != 4 or region.shape[-2:] != (h, w) or region.shape[0] not in (1, n):
            raise ValueError(f"mask_region must have shape ({n} or 1, 1, {h}, {w}), got {tuple(region.shape)}")
        region = region[:, :1].expand(n, 1, h, w)
    g = generator if generator is not None else make_generator(seed)

    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    out = images.clone().float()
    masks = torch.zeros(n, 1, h, w)
    for i in range(n):
        candidates = region[i, 0].flatten().nonzero().flatten()
        if candidates.numel() == 0:  # empty region: anywhere in the image
            candidates = torch.arange(h * w)
        k = int(torch.randint(n_lo, n_hi + 1, (1,), generator=g))
        for _ in range(k):
            centre = candidates[int(torch.randint(0, candidates.numel(), (1,), generator=g))]
            cy, cx = float(centre // w), float(centre % w)
            r = _uniform(r_lo, r_hi, g)
            aspect = _uniform(1.0, 1.5, g)
            angle = _uniform(0.0, 3.14159, g)
            value = _uniform(v_lo, v_hi, g)
            cos, sin = torch.cos(torch.tensor(angle)), torch.sin(torch.tensor(angle))
            u = (xx - cx) * cos + (yy - cy) * sin
            v = -(xx - cx) * sin + (yy - cy) * cos
            dist = torch.sqrt((u / (r * aspect)) ** 2 + (v / r) ** 2) * r  # ~ pixels from the centre
            weight = ((r - dist) / max(edge, 1e-6) + 0.5).clamp(0, 1) if edge > 0 else (dist <= r).float()
            out[i] = out[i] + (value - out[i]) * weight
            masks[i, 0] = torch.maximum(masks[i, 0], (weight > 0.5).float())
    return out.clamp(-1, 1), masks


def make_lesion_dataset(
    images: torch.Tensor,
    p_lesion: float = 0.5,
    *,
    mask_region: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    seed: int = 0,
    **lesion_kwargs,
) -> dict:
    """A labelled healthy / lesion dataset from healthy ``images`` (anomaly detection, segmentation).

    A random fraction ``p_lesion`` of the images (exactly ``round(p_lesion * N)``) receives lesions
    by :func:`add_synthetic_lesions` (``lesion_kwargs`` are passed on).

    Returns:
        ``{"images": (N,C,H,W), "masks": (N,1,H,W) in {0,1}, "labels": (N,) 0 healthy / 1 lesion,
        "healthy": the untouched images}``.
    """
    if not 0.0 <= p_lesion <= 1.0:
        raise ValueError(f"p_lesion must be in [0, 1], got {p_lesion!r}")
    if not torch.is_tensor(images) or images.ndim != 4:
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    g = generator if generator is not None else make_generator(seed)
    n = images.shape[0]
    n_sick = int(round(p_lesion * n))
    sick = torch.randperm(n, generator=g)[:n_sick]
    labels = torch.zeros(n, dtype=torch.long)
    labels[sick] = 1
    out = images.clone().float()
    masks = torch.zeros(n, 1, *images.shape[-2:])
    if n_sick:
        region = None
        if mask_region is not None:
            region = mask_region if mask_region.shape[0] == 1 else mask_region[sick]
        lesion_kwargs.setdefault("n_lesions", (1, 2))
        out[sick], masks[sick] = add_synthetic_lesions(images[sick], mask_region=region, generator=g, **lesion_kwargs)
        # a lesion painted over a bright area may be invisible: its mask is still the truth
    return {"images": out, "masks": masks, "labels": labels, "healthy": images.clone()}


def brain_lesion_dataset(n: int = 64, size: int = 64, p_lesion: float = 0.5, seed: int = 0, **lesion_kwargs) -> dict:
    """MNI152 slices (:func:`dimedia_course.data.brain.mni152_slices`) with synthetic lesions inside the brain.

    Lesion centres are drawn inside the brain (template mask and tissue brighter than -0.5);
    returns the dict of :func:`make_lesion_dataset`.
    """
    from dimedia_course.data.brain import mni152_slices

    images, brain = mni152_slices(n=n, size=size, seed=seed, return_mask=True)
    region = brain * (images > -0.5).float()
    lesion_kwargs.setdefault("radius", (max(1.0, size / 32), max(2.0, size / 10)))
    return make_lesion_dataset(
        images, p_lesion, mask_region=region, generator=make_generator(seed + 1), **lesion_kwargs
    )


__all__ = ["add_synthetic_lesions", "make_lesion_dataset", "brain_lesion_dataset"]
