"""Synthetic CT phantoms: the Shepp-Logan head phantom and random ellipse phantoms.

The Shepp-Logan phantom (Shepp & Logan 1974, IEEE Trans. Nucl. Sci. 21) is a sum of ellipses of
constant attenuation that mimics a head section; it is the classic test image of CT
reconstruction and is bundled with scikit-image. Random ellipse phantoms, built the same way,
give an unlimited training set for the sparse-view CT experiments of the course (e.g. the
score-based inverse-problem solvers of Song et al. 2022, ICLR).
"""

from __future__ import annotations

import torch

from dimedia_course.data.loaders import resize_image
from dimedia_course.device import make_generator
from dimedia_course.validation import check_positive_int


def shepp_logan(size: int = 64) -> torch.Tensor:
    """The (modified) Shepp-Logan phantom ``(1, 1, size, size)`` in ``[-1, 1]`` (from scikit-image)."""
    from skimage.data import shepp_logan_phantom

    if not isinstance(size, int) or isinstance(size, bool) or size < 4:
        raise ValueError(f"size must be an integer >= 4, got {size!r}")
    image = torch.from_numpy(shepp_logan_phantom()).float()  # 400 x 400 in [0, 1]
    image = resize_image(image * 2 - 1, size).clamp(-1, 1)
    return image[None, None].contiguous()


def _ellipse(yy: torch.Tensor, xx: torch.Tensor, cy, cx, ay, ax, angle) -> torch.Tensor:
    """Indicator of a rotated ellipse with centre (cy, cx), semi-axes (ay, ax) on a [-1, 1]^2 grid."""
    c, s = torch.cos(angle), torch.sin(angle)
    u = (xx - cx) * c + (yy - cy) * s
    v = -(xx - cx) * s + (yy - cy) * c
    return ((u / ax) ** 2 + (v / ay) ** 2 <= 1.0).float()


def random_ellipse_phantoms(
    n: int = 16,
    size: int = 64,
    n_ellipses: tuple[int, int] = (3, 8),
    *,
    generator: torch.Generator | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Random Shepp-Logan-like phantoms ``(n, 1, size, size)`` in ``[-1, 1]``.

    Each phantom is an outer "skull" ellipse with a soft-tissue interior plus between
    ``n_ellipses[0]`` and ``n_ellipses[1]`` random inner ellipses whose attenuation is added,
    as in the Shepp-Logan construction (Shepp & Logan 1974).

    Args:
        n: number of phantoms; size: side length.
        n_ellipses: ``(min, max)`` number of inner ellipses (inclusive).
        generator: local random generator (default: ``make_generator(seed)``).
    """
    check_positive_int(n, "n")
    if not isinstance(size, int) or size < 4:
        raise ValueError(f"size must be an integer >= 4, got {size!r}")
    lo, hi = n_ellipses
    if not 0 <= lo <= hi:
        raise ValueError(f"n_ellipses must be (min, max) with 0 <= min <= max, got {n_ellipses!r}")
    g = generator if generator is not None else make_generator(seed)
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    out = torch.empty(n, 1, size, size)
    for i in range(n):
        r = torch.rand(4, generator=g)
        ay, ax = 0.75 + 0.15 * r[0], 0.6 + 0.15 * r[1]
        angle = (r[2] - 0.5) * 0.3
        outer = _ellipse(yy, xx, 0.0, 0.0, ay, ax, angle)
        inner = _ellipse(yy, xx, 0.0, 0.0, ay - 0.05, ax - 0.05, angle)
        img = 1.0 * outer - 0.7 * inner  # bright skull ring, soft tissue 0.3
        k = int(torch.randint(lo, hi + 1, (1,), generator=g))
        for _ in range(k):
            p = torch.rand(6, generator=g)
            cy, cx = (p[0] - 0.5) * 1.0 * ay, (p[1] - 0.5) * 1.0 * ax
            ey, ex = 0.05 + 0.25 * p[2], 0.05 + 0.25 * p[3]
            value = (p[4] - 0.5) * 0.4
            img = img + value * _ellipse(yy, xx, cy, cx, ey, ex, p[5] * torch.pi) * inner
        out[i, 0] = img.clamp(0, 1) * 2 - 1
    return out


__all__ = ["shepp_logan", "random_ellipse_phantoms"]
