"""Inverse problems with a diffusion prior: undersampled MRI and sparse-view CT.

A measurement ``y = A(x)`` loses information (k-space lines that were not acquired, projection angles
that were not measured). The classical baselines invert ``A`` naively:

- MRI: the *zero-filled* reconstruction ``x_zf = Re F^{-1}(M . y)`` (missing k-space set to 0);
- CT: *filtered back-projection* (FBP, Kak & Slaney 1988) of the few measured views
  (``skimage.transform.iradon``), which streaks when views are sparse.

A diffusion model trained on fully sampled images supplies the missing information. During DDIM
sampling the clean estimate ``x0_hat`` is pulled towards the measurements after every step:

- ``method="dc"``: *data consistency*. For MRI the measured k-space of ``x0_hat`` is replaced by the
  acquired samples, ``x0 <- F^{-1}(M_s y_s + (1 - M_s) F x0_hat)``, the orthogonal projection onto the
  real images consistent with the measurements (Chung & Ye 2022, "score-MRI", eq. 9); ``M_s, y_s`` are the
  mask and samples completed by the conjugate symmetry of a real image's k-space
  (:meth:`MRIOperator.project`). For CT a few conjugate-gradient steps on
  ``||A x - y||^2`` start from ``x0_hat`` (Chung, Lee & Ye 2024, "DDS").
- ``method="dps"``: *diffusion posterior sampling* (Chung et al. 2023, Alg. 1): subtract
  ``dps_scale * grad_{x_t} ||y - A(x0_hat(x_t))||_2`` (the norm, not its square) after each step,
  differentiating through the network. This is the official code's update (``scale`` times the gradient of the
  norm); Alg. 1 writes ``zeta_t grad ||y - A(x0_hat)||_2^2`` with ``zeta_t = zeta' / ||y - A(x0_hat)||`` (App. C),
  and since ``grad ||r||^2 = 2 ||r|| grad ||r||`` that is ``2 zeta' grad ||r||``: ``dps_scale = 2 zeta'``.

The CT projector is written in torch (rotate with ``grid_sample`` and sum), so autograd gives its
adjoint; it reproduces ``skimage.transform.radon(..., circle=True)`` exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from dimedia_course.sampling import sample
from dimedia_course.validation import check_binary_mask, check_images, check_positive_int, check_scheduler

__all__ = [
    "fft2c",
    "ifft2c",
    "cartesian_mask",
    "MRIOperator",
    "CTOperator",
    "fbp",
    "conjugate_gradient",
    "diffusion_reconstruct",
]


# ------------------------------------------------------------------------------------------------ MRI
def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred, orthonormal 2-D Fourier transform over the last two axes (image -> k-space)."""
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`fft2c` (k-space -> image)."""
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(k, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))


def cartesian_mask(
    size: int | tuple[int, int],
    acceleration: float,
    center_fraction: float = 0.125,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random Cartesian undersampling mask of phase-encoding lines (fastMRI style, Zbontar et al. 2018).

    Whole k-space columns are sampled: the ``center_fraction`` of lines around the centre (low
    frequencies, always acquired) plus randomly chosen outer lines, ``round(W / acceleration)`` lines in
    total. ``acceleration=1`` samples everything.

    Returns a float mask shaped ``(1, 1, H, W)`` with values in ``{0, 1}``.
    """
    if isinstance(size, int) and not isinstance(size, bool):
        height, width = size, size
    elif isinstance(size, tuple) and len(size) == 2 and all(isinstance(s, int) for s in size):
        height, width = size
    else:
        raise ValueError(f"size must be an int or a (H, W) tuple of ints, got {size!r}")
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    if isinstance(acceleration, bool) or not isinstance(acceleration, (int, float)) or not acceleration >= 1:
        raise ValueError(f"acceleration must be a number >= 1, got {acceleration!r}")
    if (
        isinstance(center_fraction, bool)
        or not isinstance(center_fraction, (int, float))
        or not (0 <= center_fraction <= 1)
    ):
        raise ValueError(f"center_fraction must be in [0, 1], got {center_fraction!r}")
    n_lines = max(1, round(width / acceleration))
    n_center = min(n_lines, max(1, round(width * center_fraction)))
    lines = torch.zeros(width, dtype=torch.bool)
    start = width // 2 - n_center // 2
    lines[start : start + n_center] = True
    outer = torch.nonzero(~lines).flatten()
    chosen = outer[torch.randperm(len(outer), generator=generator)[: n_lines - n_center]]
    lines[chosen] = True
    return lines.float().expand(height, width).reshape(1, 1, height, width).clone()


def _mirror(k: torch.Tensor) -> torch.Tensor:
    """``k -> -k`` on a centred k-space (:func:`fft2c` layout): index ``i`` holds frequency ``i - n // 2``."""
    out = k
    for dim in (-2, -1):
        n = k.shape[dim]
        index = (2 * (n // 2) - torch.arange(n, device=k.device)) % n
        out = out.index_select(dim, index)
    return out


class MRIOperator:
    """Single-coil Cartesian MRI forward model ``A(x) = M . F x`` with an undersampling mask ``M``.

    Images are real ``(B, 1, H, W)`` tensors (magnitude images in ``[-1, 1]``; the constant offset sits at
    the always-sampled k-space centre, so it does not change any reconstruction).
    """

    def __init__(self, mask: torch.Tensor):
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
        if mask.ndim == 2:
            mask = mask[None, None]
        if mask.ndim != 4 or mask.shape[:2] != (1, 1):
            raise ValueError(f"mask must be shaped (H, W) or (1, 1, H, W), got {tuple(mask.shape)}")
        self.mask = check_binary_mask(mask, "mask")

    def _check(self, x: torch.Tensor, name: str) -> None:
        if x.shape[-2:] != self.mask.shape[-2:]:
            raise ValueError(
                f"{name} has spatial size {tuple(x.shape[-2:])} but the mask is {tuple(self.mask.shape[-2:])}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Undersampled k-space ``M . F x`` (complex, same shape as ``x``)."""
        check_images(x, "x")
        self._check(x, "x")
        return self.mask.to(x.device) * fft2c(x.to(torch.complex64))

    __call__ = forward

    def zero_filled(self, kspace: torch.Tensor) -> torch.Tensor:
        """Zero-filled baseline ``Re F^{-1}(M . y)``."""
        self._check(kspace, "kspace")
        return ifft2c(self.mask.to(kspace.device) * kspace).real

    def project(self, x: torch.Tensor, kspace: torch.Tensor) -> torch.Tensor:
        """Hard data consistency (Chung & Ye 2022, eq. 9): the orthogonal projection of the *real* image ``x``
        onto the real images whose measured k-space equals ``y``.

        The k-space of a real image is conjugate-symmetric, ``X(-k) = conj X(k)``, so a sample at ``k`` also
        fixes ``-k``. The step therefore works with the symmetrised mask ``M_s = M or P(M)`` (``P`` mirrors
        ``k -> -k``) and measurements ``y_s = (M y + P conj(M y)) / (M + P M)`` (the mean where both mirror
        entries were measured, the least-squares fit for noisy data), and replaces ``x``'s k-space there:
        ``x <- F^{-1}(M_s y_s + (1 - M_s) F x)``. That k-space is conjugate-symmetric, so the result is real
        (the ``.real`` only drops rounding), the step is idempotent, and for measurements of a real image the
        measured entries equal ``y`` to float precision. Replacing on ``M`` alone and taking the real part
        would halve every sample whose mirror is unmeasured, so it would not be a projection.
        """
        self._check(x, "x")
        self._check(kspace, "kspace")
        m_s, y_s = self.symmetric_measurements(kspace)
        k = fft2c(x.to(torch.complex64))
        return ifft2c(m_s * y_s + (1 - m_s) * k).real.to(x.dtype)

    def symmetric_measurements(self, kspace: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The conjugate-symmetric completion ``(M_s, y_s)`` of mask and measurements used by :meth:`project`."""
        self._check(kspace, "kspace")
        m = self.mask.to(kspace.device)
        y = m * kspace.to(torch.complex64)
        count = m + _mirror(m)
        m_s = (count > 0).to(m.dtype)
        y_s = (y + _mirror(y).conj()) / count.clamp_min(1)
        return m_s, y_s

    def residual_norm(self, x: torch.Tensor, kspace: torch.Tensor) -> torch.Tensor:
        """Sum over the batch of the per-image ``||y - A(x)||_2`` (the DPS likelihood term)."""
        return (kspace - self.forward(x)).abs().pow(2).flatten(1).sum(dim=1).sqrt().sum()


# ------------------------------------------------------------------------------------------------- CT
class CTOperator:
    """Sparse-view parallel-beam CT projector (Radon transform) in torch.

    Each view rotates the attenuation image ``u = (x + 1) / 2`` about pixel ``(H // 2, W // 2)`` with
    bilinear ``grid_sample`` and sums along the rays (rows): ``A(x)[v] = sum_rows rot_{theta_v}(u)``. It is
    linear in ``u`` so autograd gives the exact adjoint (back-projection). The sinogram is shaped
    ``(B, 1, n_views, W)`` and matches ``skimage.transform.radon(u, theta, circle=True).T``.

    Args:
        size: image side ``H = W``.
        n_views: number of projection angles, spread uniformly over ``[0, 180)`` degrees.
        angles: explicit angles in degrees (overrides ``n_views``).
    """

    def __init__(self, size: int, n_views: int | None = None, angles=None):
        self.size = check_positive_int(size, "size", minimum=2)
        if angles is None:
            if n_views is None:
                raise ValueError("give n_views (an int >= 1) or explicit angles")
            n_views = check_positive_int(n_views, "n_views")
            angles = np.arange(n_views) * 180.0 / n_views
        angles = np.asarray(angles, dtype=np.float64).ravel()
        if angles.size < 1 or not np.all(np.isfinite(angles)):
            raise ValueError("angles must be a non-empty sequence of finite numbers (degrees)")
        self.angles = angles
        self.n_views = len(angles)
        self._theta = self._affine_matrices(angles, self.size)

    @staticmethod
    def _affine_matrices(angles: np.ndarray, n: int) -> torch.Tensor:
        centre = (2 * (n // 2) + 1) / n - 1  # pixel n // 2 in grid_sample's normalised coordinates
        mats = []
        for a in np.deg2rad(angles):
            rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
            shift = (np.eye(2) - rot) @ np.array([centre, centre])
            mats.append(np.concatenate([rot, shift[:, None]], axis=1))
        return torch.tensor(np.stack(mats), dtype=torch.float32)

    def _check(self, x: torch.Tensor) -> None:
        check_images(x, "x", channels=1)
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(f"x must be {self.size} x {self.size} images, got {tuple(x.shape[-2:])}")

    def project_attenuation(self, u: torch.Tensor) -> torch.Tensor:
        """Linear Radon transform of attenuation images ``u`` ``(B, 1, n, n)`` -> ``(B, 1, V, n)``."""
        self._check(u)
        batch, n, views = u.shape[0], self.size, self.n_views
        theta = self._theta.to(device=u.device, dtype=u.dtype)
        grid = F.affine_grid(theta, (views, 1, n, n), align_corners=False)  # (V, n, n, 2)
        # rotate every image by every angle: treat (B, V) as one batch
        u_rep = u.repeat_interleave(views, dim=0)
        grid_rep = grid.repeat(batch, 1, 1, 1)
        rotated = F.grid_sample(u_rep, grid_rep, mode="bilinear", padding_mode="zeros", align_corners=False)
        return rotated.sum(dim=2).reshape(batch, 1, views, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sinogram of images ``x`` in ``[-1, 1]`` (attenuation ``u = (x + 1) / 2``)."""
        return self.project_attenuation((x + 1) / 2)

    __call__ = forward

    def adjoint(self, sinogram: torch.Tensor) -> torch.Tensor:
        """Back-projection ``A^T s`` in attenuation units, computed by autograd (A is linear)."""
        self._check_sinogram(sinogram)
        u = torch.zeros(
            sinogram.shape[0], 1, self.size, self.size, device=sinogram.device, dtype=sinogram.dtype, requires_grad=True
        )
        with torch.enable_grad():
            (self.project_attenuation(u) * sinogram).sum().backward()
        return u.grad.detach()

    def _check_sinogram(self, sinogram) -> None:
        if not isinstance(sinogram, torch.Tensor) or sinogram.ndim != 4:
            raise ValueError("sinogram must be a tensor shaped (B, 1, n_views, size)")
        if tuple(sinogram.shape[1:]) != (1, self.n_views, self.size):
            raise ValueError(
                f"sinogram must be shaped (B, 1, {self.n_views}, {self.size}), got {tuple(sinogram.shape)}"
            )

    def residual_norm(self, x: torch.Tensor, sinogram: torch.Tensor) -> torch.Tensor:
        """Sum over the batch of the per-image ``||y - A(x)||_2`` (the DPS likelihood term)."""
        return (sinogram - self.forward(x)).pow(2).flatten(1).sum(dim=1).sqrt().sum()

    def fbp(self, sinogram: torch.Tensor, filter_name: str = "ramp", clip: bool = True) -> torch.Tensor:
        """Filtered back-projection baseline with ``skimage.transform.iradon``; see :func:`fbp`."""
        return fbp(sinogram, self.angles, filter_name=filter_name, clip=clip)

    def data_consistency(self, x: torch.Tensor, sinogram: torch.Tensor, n_iter: int = 5) -> torch.Tensor:
        """A few CG steps on ``||A x - y||^2`` started at ``x`` (Chung, Lee & Ye 2024, DDS eq. 13)."""
        self._check_sinogram(sinogram)
        u0 = (x + 1) / 2
        rhs = self.adjoint(sinogram)

        def normal(v):
            return self.adjoint(self.project_attenuation(v))

        u = conjugate_gradient(normal, rhs, u0, n_iter=n_iter)
        return 2 * u - 1


def conjugate_gradient(
    operator,
    rhs: torch.Tensor,
    x0: torch.Tensor,
    n_iter: int = 5,
    tol: float = 1e-6,
    restart_every: int = 10,
) -> torch.Tensor:
    """Conjugate gradients for ``operator(x) = rhs`` with a symmetric PSD ``operator``, per batch item
    (Hestenes & Stiefel 1952). Few iterations from a good start act as a regularised solve.

    Args:
        n_iter: maximum number of iterations (an int >= 1).
        tol: an item stops once ``||rhs - operator(x)|| <= tol * ||rhs||`` (a number >= 0; 0 runs all
            ``n_iter`` iterations unless the search direction loses all curvature).
        restart_every: every this many iterations the residual is recomputed as ``rhs - operator(x)``
            (residual replacement) instead of trusting the recursion ``r <- r - alpha A p``, whose
            rounding otherwise drifts into the null space of a singular operator (in float32, e.g. a
            sparse-view CT normal operator, the iterate then grows without bound after ~100 iterations).

    An item also stops when its search direction has no curvature left (``p^T A p`` at rounding level), so
    more iterations than needed never make the solution worse.
    """
    n_iter = check_positive_int(n_iter, "n_iter")
    restart_every = check_positive_int(restart_every, "restart_every")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")

    def dot(a, b):
        return (a * b).flatten(1).sum(dim=1).view(-1, 1, 1, 1)

    eps = torch.finfo(rhs.dtype).eps if rhs.is_floating_point() else 1e-7
    threshold = tol * dot(rhs, rhs).sqrt()
    x = x0.clone()
    r = rhs - operator(x)
    p = r.clone()
    rs = dot(r, r)
    active = rs.sqrt() > threshold
    for it in range(1, n_iter + 1):
        if not bool(active.any()):
            break
        ap = operator(p)
        curvature = dot(p, ap)
        # no curvature left at rounding level: p lies (numerically) in the null space
        active = active & (curvature > eps * dot(p, p).sqrt() * ap.flatten(1).norm(dim=1).view(-1, 1, 1, 1))
        alpha = torch.where(active, rs / curvature.clamp_min(torch.finfo(curvature.dtype).tiny), 0.0)
        x = x + alpha * p
        # every restart_every iterations the true residual replaces the recursive one (van der Vorst & Ye 2000)
        r = rhs - operator(x) if it % restart_every == 0 else r - alpha * ap
        rs_new = dot(r, r)
        beta = torch.where(active, rs_new / rs.clamp_min(torch.finfo(rs.dtype).tiny), 0.0)
        p = torch.where(active, r + beta * p, p)
        rs = torch.where(active, rs_new, rs)
        active = active & (rs.sqrt() > threshold)
    return x


def fbp(sinogram: torch.Tensor, angles, filter_name: str = "ramp", clip: bool = True) -> torch.Tensor:
    """Filtered back-projection (``skimage.transform.iradon``) of a ``(B, 1, V, n)`` sinogram from
    :class:`CTOperator`; returns images in the ``[-1, 1]`` convention (clipped there when ``clip``)."""
    from skimage.transform import iradon

    angles = np.asarray(angles, dtype=np.float64).ravel()
    if not isinstance(sinogram, torch.Tensor) or sinogram.ndim != 4 or sinogram.shape[1] != 1:
        raise ValueError("sinogram must be a tensor shaped (B, 1, n_views, size)")
    if sinogram.shape[2] != len(angles):
        raise ValueError(f"sinogram has {sinogram.shape[2]} views but {len(angles)} angles were given")
    n = sinogram.shape[-1]
    out = []
    for s in sinogram.detach().cpu().double().numpy():
        u = iradon(s[0].T, theta=angles, output_size=n, filter_name=filter_name, circle=True)
        out.append(u)
    x = 2 * torch.from_numpy(np.stack(out)).float()[:, None] - 1
    if clip:
        x = x.clamp(-1, 1)
    return x.to(sinogram.device)


# --------------------------------------------------------------------------------- diffusion recon
def diffusion_reconstruct(
    model,
    scheduler,
    operator,
    measurement: torch.Tensor,
    *,
    method: str = "dc",
    num_inference_steps: int = 50,
    eta: float = 0.0,
    dps_scale: float = 1.0,
    cg_iterations: int = 5,
    generator: torch.Generator | None = None,
    x_T: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reconstruct images from ``measurement = operator(x)`` with a diffusion prior.

    Args:
        model: unconditional denoiser ``model(x_t, t)`` trained on fully sampled images.
        scheduler: DDIM/DDPM scheduler (``alphas_cumprod``, ``set_timesteps``, ``prediction_type``).
        operator: :class:`MRIOperator` or :class:`CTOperator`.
        measurement: k-space ``(B, 1, H, W)`` (complex) or sinogram ``(B, 1, V, n)``.
        method: ``"dc"`` (data consistency after each step: projection for MRI, Chung & Ye 2022;
            CG steps for CT, Chung et al. 2024) or ``"dps"`` (Chung et al. 2023, Alg. 1: after each step
            ``x <- x - dps_scale * grad_x ||y - A(x0_hat)||_2``, per image; that is Alg. 1 on the squared norm
            with ``zeta_t = dps_scale / (2 ||y - A(x0_hat)||)``).
        eta: DDIM stochasticity (0 = deterministic given ``x_T``).

    Sampling is :func:`~dimedia_course.sampling.sample` with its ``x0_correction`` (dc) or ``likelihood``
    (dps) hook, on the scheduler's own timesteps and clipping. The last estimate is made consistent with the
    data once more (``dc``) and clipped to ``[-1, 1]``.
    """
    check_scheduler(scheduler)
    check_positive_int(num_inference_steps, "num_inference_steps")
    if method not in ("dc", "dps"):
        raise ValueError(f"method must be 'dc' or 'dps', got {method!r}")
    if not isinstance(operator, (MRIOperator, CTOperator)):
        raise TypeError(f"operator must be an MRIOperator or CTOperator, got {type(operator).__name__}")
    if not isinstance(measurement, torch.Tensor) or measurement.ndim != 4:
        raise ValueError("measurement must be a tensor shaped (B, 1, ., .)")
    if isinstance(operator, MRIOperator):
        if not measurement.is_complex():
            raise TypeError("an MRI measurement must be complex k-space (use MRIOperator.forward)")
        operator._check(measurement, "measurement")
        size = tuple(measurement.shape[-2:])
        dc = lambda x0: operator.project(x0, measurement)  # noqa: E731
    else:
        operator._check_sinogram(measurement)
        size = (operator.size, operator.size)
        dc = lambda x0: operator.data_consistency(x0, measurement, n_iter=cg_iterations)  # noqa: E731
    batch = measurement.shape[0]
    device = measurement.device
    if x_T is None:
        x_T = torch.randn((batch, 1, *size), generator=generator, device=device)
    elif tuple(x_T.shape) != (batch, 1, *size):
        raise ValueError(f"x_T must be shaped {(batch, 1, *size)}, got {tuple(x_T.shape)}")

    hooks = {"x0_correction": lambda x0, t: dc(x0).clamp(-1, 1)}
    if method == "dps":
        # the likelihood is the *norm* ||y - A x0_hat|| (not squared), as in the official DPS code: its gradient is
        # the squared norm's divided by 2 ||y - A x0_hat||, the normalised step of Chung et al. 2023, App. C
        hooks = {"likelihood": lambda x0: operator.residual_norm(x0, measurement), "dps_scale": dps_scale}
    x = sample(
        model,
        scheduler,
        x_T=x_T,
        num_inference_steps=num_inference_steps,
        eta=eta,
        generator=generator,
        **hooks,
    )
    with torch.no_grad():
        return dc(x).clamp(-1, 1) if method == "dc" else x.clamp(-1, 1)
