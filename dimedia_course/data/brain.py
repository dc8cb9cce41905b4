"""Healthy 2D brain MRI slices from the MNI152 template (bundled with nilearn, no download).

The ICBM 2009 MNI152 non-linear asymmetric T1 template (Fonov et al. 2011, NeuroImage 54) is an
average of 152 healthy adult brains, shipped inside the ``nilearn`` wheel. One template gives
one brain, so variety comes from taking many slices and from random *augmentation*: small
rotations, shifts and zooms, left-right flips and intensity (contrast/gamma) jitter, all drawn
from a local :class:`torch.Generator`. This is enough healthy anatomy to train the small
diffusion models of the course on a CPU, and to insert synthetic lesions for anomaly detection
(:mod:`dimedia_course.data.lesions`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dimedia_course.checkpoint import save_atomically
from dimedia_course.data.loaders import axis_index, resize_image, volume_slice
from dimedia_course.data.medical import default_data_dir
from dimedia_course.device import make_generator
from dimedia_course.validation import check_positive_int

DEFAULT_SLICE_RANGE = {"axial": (0.35, 0.7), "coronal": (0.3, 0.7), "sagittal": (0.3, 0.7)}


@functools.lru_cache(maxsize=4)
def _mni152_volumes(resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNI152 T1 template in [0, 1] and its brain mask, as (X, Y, Z) tensors (cached in memory and on disk).

    nilearn reads and resamples the template in about 2.5 s (1.8 s of it importing ``nilearn.datasets``); every
    notebook kernel and training process of the course needs it, so the result is kept in
    :func:`mni152_cache_file` (written atomically) and read back in milliseconds. A cache that cannot be read is
    computed again; one that cannot be written (a read-only home) is skipped."""
    cache = mni152_cache_file(resolution)
    with contextlib.suppress(Exception):
        saved = torch.load(cache, weights_only=True)
        if set(saved) == {"t1", "mask"} and saved["t1"].shape == saved["mask"].shape and saved["t1"].ndim == 3:
            return saved["t1"].float().contiguous(), saved["mask"].float().contiguous()
    from nilearn.datasets import load_mni152_brain_mask, load_mni152_template

    t1 = np.asarray(load_mni152_template(resolution=resolution).get_fdata(), dtype=np.float32)
    mask = np.asarray(load_mni152_brain_mask(resolution=resolution).get_fdata(), dtype=np.float32)
    t1 = t1 / max(float(t1.max()), 1e-8)
    mask = (mask > 0.5).astype(np.float32)
    t1, mask = torch.from_numpy(np.ascontiguousarray(t1)), torch.from_numpy(np.ascontiguousarray(mask))
    with contextlib.suppress(OSError):
        save_atomically({"t1": t1, "mask": mask.bool()}, cache)
    return t1, mask


def mni152_cache_file(resolution: int = 2) -> Path:
    """Where the template of :func:`mni152_volume` is cached: ``<default_data_dir()>/mni152/``, one file per
    nilearn version and resolution (so a new nilearn, whose template may differ, is read afresh)."""
    version = importlib.metadata.version("nilearn")
    return default_data_dir() / "mni152" / f"mni152_{_check_resolution(resolution)}mm_nilearn-{version}.pt"


def mni152_volume(resolution: int = 2) -> torch.Tensor:
    """The MNI152 T1 template as a ``(X, Y, Z)`` float32 tensor in ``[-1, 1]`` (RAS orientation)."""
    t1, _ = _mni152_volumes(_check_resolution(resolution))
    return t1 * 2.0 - 1.0


def _check_resolution(resolution) -> int:
    if resolution not in (1, 2):
        raise ValueError(f"resolution must be 1 or 2 (mm), got {resolution!r}")
    return int(resolution)


def _random_affine(
    n: int, generator: torch.Generator, max_rotation: float, max_shift: float, max_zoom: float, flip: bool
) -> torch.Tensor:
    """Random 2D affine matrices ``(n, 2, 3)`` for :func:`torch.nn.functional.affine_grid`."""
    u = torch.rand(n, 5, generator=generator) * 2 - 1  # uniform in [-1, 1]
    angle = u[:, 0] * math.radians(max_rotation)
    zoom = 1.0 + u[:, 1] * max_zoom
    shift = u[:, 2:4] * max_shift
    sign = torch.where((u[:, 4] > 0) & flip, -1.0, 1.0)  # left-right flip
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos * sign, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin * sign, cos
    theta[:, :, 2] = shift
    return theta


def augment_slices(
    images: torch.Tensor,
    masks: torch.Tensor | None = None,
    *,
    generator: torch.Generator,
    max_rotation: float = 10.0,
    max_shift: float = 0.05,
    max_zoom: float = 0.05,
    flip: bool = True,
    intensity: float = 0.1,
    elastic: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Random geometric + intensity augmentation of ``(N, 1, H, W)`` images in ``[-1, 1]``.

    Geometry: rotation up to ``max_rotation`` degrees, shift up to ``max_shift`` of the field of
    view, zoom by up to ``±max_zoom``, left-right flip with probability 1/2 (if ``flip``) and, when
    ``elastic > 0``, a smooth random displacement (a 4 x 4 grid of offsets of up to ``elastic`` of the
    field of view, upsampled bicubically: anatomy bends, it does not tear); masks get the same transform
    (nearest neighbour). Intensity: contrast ``x * (1 ± intensity)`` and gamma ``x ** (1 ± intensity)`` on
    the ``[0, 1]`` scale, so the background stays at -1.
    """
    n = images.shape[0]
    theta = _random_affine(n, generator, max_rotation, max_shift, max_zoom, flip)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    if elastic > 0:
        coarse = (torch.rand(n, 2, 4, 4, generator=generator) * 2 - 1) * (2 * elastic)  # grid units: [-1, 1] = FOV
        smooth = F.interpolate(coarse, size=images.shape[-2:], mode="bicubic", align_corners=True)
        grid = grid + smooth.permute(0, 2, 3, 1)
    unit = (images + 1) / 2  # [0, 1], background 0 -> zero padding is background
    unit = F.grid_sample(unit, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if masks is not None:
        masks = F.grid_sample(masks, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    jitter = (torch.rand(n, 2, generator=generator) * 2 - 1) * intensity
    unit = unit.clamp(0, 1) ** (1 + jitter[:, 0]).view(-1, 1, 1, 1)
    unit = (unit * (1 + jitter[:, 1]).view(-1, 1, 1, 1)).clamp(0, 1)
    return unit * 2 - 1, masks


def mni152_slices(
    n: int = 64,
    size: int = 64,
    axis: str = "axial",
    slice_range: Sequence[float] | None = None,
    augment: bool = True,
    seed: int = 0,
    *,
    generator: torch.Generator | None = None,
    resolution: int = 2,
    return_mask: bool = False,
    min_brain_fraction: float = 0.0,
    augment_kwargs: dict | None = None,
):
    """``n`` healthy brain slices ``(n, 1, size, size)`` in ``[-1, 1]`` from the MNI152 template.

    Args:
        n: number of slices to return. Slice positions are evenly spaced over ``slice_range``
            (repeating positions when ``n`` exceeds the slices available).
        size: output side length (the slice is padded to a square with background, then resized).
        axis: ``"axial"``, ``"coronal"``, ``"sagittal"`` or ``"all"`` (the three axes in turn).
        slice_range: ``(start, stop)`` as fractions of the axis (default: the central part of the
            brain for that axis, e.g. ``(0.35, 0.7)`` axially; ``(0, 1)`` with ``min_brain_fraction``
            uses every usable slice).
        augment: apply random rotation/shift/zoom/flip and intensity jitter (:func:`augment_slices`).
        min_brain_fraction: drop slice positions whose brain mask covers less than this fraction of the
            largest slice of that axis (near-empty slices at the edges of the brain).
        augment_kwargs: passed to :func:`augment_slices` (e.g. ``max_rotation``, ``elastic``).
        seed: seed of the local generator used for augmentation (ignored when ``generator`` is given).
        generator: a :class:`torch.Generator` to draw the augmentation from.
        resolution: template resolution in mm (2: 99x117x95 voxels; 1: 197x233x189).
        return_mask: also return the brain masks ``(n, 1, size, size)`` in ``{0, 1}``.

    Returns:
        images, or ``(images, masks)`` with ``return_mask=True``.
    """
    check_positive_int(n, "n")
    if not isinstance(size, int) or isinstance(size, bool) or size < 4:
        raise ValueError(f"size must be an integer >= 4, got {size!r}")
    axes = tuple(DEFAULT_SLICE_RANGE) if axis == "all" else (axis,)
    if any(a not in DEFAULT_SLICE_RANGE for a in axes):
        raise ValueError(f"axis must be one of {tuple(DEFAULT_SLICE_RANGE) + ('all',)}, got {axis!r}")
    if not 0.0 <= min_brain_fraction < 1.0:
        raise ValueError(f"min_brain_fraction must lie in [0, 1), got {min_brain_fraction!r}")
    t1, mask = _mni152_volumes(_check_resolution(resolution))
    picks = []  # (axis index, slice position)
    for i, name in enumerate(axes):
        lo, hi = DEFAULT_SLICE_RANGE[name] if slice_range is None else tuple(slice_range)
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"slice_range must be (start, stop) with 0 <= start <= stop <= 1, got {slice_range!r}")
        ax = axis_index(name)
        depth = t1.shape[ax]
        usable = list(range(int(round(lo * (depth - 1))), int(round(hi * (depth - 1))) + 1))
        if min_brain_fraction > 0:
            area = mask.sum(dim=tuple(d for d in range(3) if d != ax))
            usable = [k for k in usable if area[k] >= min_brain_fraction * area.max()]
        count = n // len(axes) + (1 if i < n % len(axes) else 0)
        index = torch.linspace(0, len(usable) - 1, max(count, 1)).round().long().tolist()[:count]
        picks += [(ax, usable[j]) for j in index]

    images = torch.stack([resize_image(volume_slice(t1, ax, k) * 2 - 1, size) for ax, k in picks])[:, None]
    masks = torch.stack([resize_image(volume_slice(mask, ax, k), size, background=0.0) for ax, k in picks])[:, None]
    masks = (masks > 0.5).float()
    if augment:
        if generator is None:
            generator = make_generator(seed)
        images, masks = augment_slices(images, masks, generator=generator, **(augment_kwargs or {}))
    images = images.clamp(-1, 1).contiguous()
    return (images, masks.contiguous()) if return_mask else images


def mni152_volumes(
    n: int = 32, size: int = 24, seed: int = 0, *, augment: bool = True, max_rotation: float = 8.0, resolution: int = 2
) -> torch.Tensor:
    """``n`` augmented copies ``(n, 1, size, size, size)`` in ``[-1, 1]`` of the MNI152 brain (3D), for small 3D
    diffusion models on a CPU.

    The template is cropped to the bounding box of its brain mask, padded to a cube with background and resized
    (trilinear). Augmentation (from a local generator): a left-right flip with probability 1/2, a rotation of up
    to ``max_rotation`` degrees about each axis, a shift of up to 4 % and a zoom of up to ±5 %, and a gamma/contrast
    jitter of ±10 %. All copies show the same brain: there is no anatomical variation between subjects.
    """
    n = check_positive_int(n, "n")
    size = check_positive_int(size, "size", minimum=8)
    t1, mask = _mni152_volumes(_check_resolution(resolution))
    nz = mask.nonzero()
    lo, hi = nz.min(0).values, nz.max(0).values + 1
    brain = t1[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    side = int(max(brain.shape))
    cube = torch.zeros(side, side, side)
    offset = [(side - d) // 2 for d in brain.shape]
    cube[
        offset[0] : offset[0] + brain.shape[0],
        offset[1] : offset[1] + brain.shape[1],
        offset[2] : offset[2] + brain.shape[2],
    ] = brain
    volume = F.interpolate(cube[None, None], size=(size,) * 3, mode="trilinear", align_corners=False)[0, 0]
    volumes = volume.expand(n, 1, size, size, size).clone()  # [0, 1]
    if augment:
        g = make_generator(seed)
        u = torch.rand(n, 9, generator=g) * 2 - 1
        angles = u[:, :3] * math.radians(max_rotation)
        cx, cy, cz = angles.cos().unbind(1)
        sx, sy, sz = angles.sin().unbind(1)
        one, zero = torch.ones(n), torch.zeros(n)
        rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], 1).view(n, 3, 3)
        ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], 1).view(n, 3, 3)
        rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], 1).view(n, 3, 3)
        flip = torch.where(u[:, 3] > 0, -1.0, 1.0)
        scale = (1 + 0.05 * u[:, 4]).view(n, 1, 1)
        rotation = rz @ ry @ rx * scale
        rotation[:, :, 0] *= flip.view(n, 1)
        theta = torch.cat([rotation, 0.08 * u[:, 5:8, None]], dim=2)  # (n, 3, 4); shifts of up to 4 % of the FOV
        grid = F.affine_grid(theta, [n, 1, size, size, size], align_corners=False)
        volumes = F.grid_sample(volumes, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        volumes = volumes.clamp(0, 1) ** (1 + 0.1 * u[:, 8]).view(n, 1, 1, 1, 1)
    return (volumes * 2 - 1).clamp(-1, 1).contiguous()


def brain_mask(images: torch.Tensor, threshold: float = -0.9) -> torch.Tensor:
    """A rough foreground mask ``{0, 1}`` of images in ``[-1, 1]`` (pixels brighter than ``threshold``).

    For exact masks of the template use ``mni152_slices(..., return_mask=True)``.
    """
    return (images > threshold).float()


__all__ = ["mni152_slices", "mni152_volume", "mni152_volumes", "mni152_cache_file", "augment_slices", "brain_mask"]
