"""Image-quality, segmentation, detection and distribution metrics used across the course.

Every image metric takes batches shaped ``(B, C, H, W)``; images live in ``[-1, 1]`` so the default
``data_range`` is 2. Each function returns a per-image tensor with ``reduction="none"`` or its mean
(a 0-d tensor) with ``reduction="mean"`` (the default).

- :func:`psnr`     peak signal-to-noise ratio, ``10 log10(R^2 / MSE)``.
- :func:`ssim`     structural similarity (Wang et al. 2004, eq. 13), uniform or Gaussian window.
- :func:`ms_ssim`  multi-scale SSIM (Wang, Simoncelli & Bovik 2003, eq. 7); fewer scales and a smaller
  window can be chosen for small (32 x 32) images.
- :func:`dice`     Dice-Sorensen overlap of binary masks (Dice 1945), ``2|A n B| / (|A| + |B|)``.
- :func:`auroc`    area under the ROC curve via the Mann-Whitney U statistic (Hanley & McNeil 1982).
- :func:`mmd`      maximum mean discrepancy with a Gaussian (or linear) kernel, unbiased estimator of
  Gretton et al. 2012, eq. 3 (Lemma 6).
- :func:`kid`      kernel inception distance's estimator: the unbiased MMD^2 with the cubic polynomial kernel
  ``k(a, b) = (a . b / d + 1)^3`` (Binkowski et al. 2018, Sec. 3), here in a fixed feature space.
- :func:`image_features` the fixed feature space of the sample-quality measures: the image average-pooled
  to ``size x size`` and flattened (no learned network, so the measure cannot drift with one's training).
- :func:`precision_recall` improved precision and recall of Kynkaenniemi et al. 2019 (eq. 1-3): k-NN
  balls around each real (generated) feature estimate the real (generated) manifold.
- :func:`nearest_neighbour_distance` distance of each sample to its nearest training image: a copy of a
  training image (memorisation) sits at ~0, below the distance of a fresh real image.
- :func:`sample_quality` all of the above for one sample set, each next to its *real-vs-real floor*: the
  same measure for a second set of real images against the same held-out set (what a perfect model gets).
- :func:`pairwise_ms_ssim` mean MS-SSIM over all pairs of a sample set: a *diversity* score (lower = more
  diverse), as used to evaluate medical generative models (e.g. Pinaya et al. 2022).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "psnr",
    "ssim",
    "ms_ssim",
    "dice",
    "auroc",
    "mmd",
    "kid",
    "image_features",
    "central_slices",
    "precision_recall",
    "nearest_neighbour_distance",
    "sample_quality",
    "pairwise_ms_ssim",
    "MS_SSIM_WEIGHTS",
]

#: the five scale weights of Wang et al. 2003 (Sec. 3.2)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

_REDUCTIONS = ("mean", "none")


# --------------------------------------------------------------------------------------------- checks
def _as_image_batch(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(x)
        else:
            raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be shaped (B, C, H, W), got shape {tuple(x.shape)}")
    if x.is_complex():
        raise TypeError(f"{name} must be real-valued, got dtype {x.dtype}")
    return x.float() if not x.is_floating_point() or x.dtype == torch.float16 else x


def _check_pair(x, y, names=("x", "y")) -> tuple[torch.Tensor, torch.Tensor]:
    x = _as_image_batch(x, names[0])
    y = _as_image_batch(y, names[1])
    if x.shape != y.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    return x, y.to(device=x.device, dtype=x.dtype)


def _check_positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


# ----------------------------------------------------------------------------------------------- PSNR
def psnr(x, target, data_range: float = 2.0, reduction: str = "mean") -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``, per image.

    Args:
        x: reconstructed images ``(B, C, H, W)``.
        target: reference images of the same shape.
        data_range: ``max - min`` of the intensity range (2 for images in ``[-1, 1]``).
        reduction: ``"mean"`` (0-d tensor) or ``"none"`` (shape ``(B,)``).

    Identical images give ``+inf``.
    """
    x, target = _check_pair(x, target, ("x", "target"))
    data_range = _check_positive(data_range, "data_range")
    _check_reduction(reduction)
    mse = (x - target).pow(2).flatten(1).mean(dim=1)
    values = 10.0 * torch.log10(data_range**2 / mse)
    return _reduce(values, reduction)


# ----------------------------------------------------------------------------------------------- SSIM
def _window(kernel: str, win_size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    if kernel == "uniform":
        w1 = torch.full((win_size,), 1.0 / win_size, dtype=torch.float64)
    elif kernel == "gaussian":
        coords = torch.arange(win_size, dtype=torch.float64) - (win_size - 1) / 2
        w1 = torch.exp(-(coords**2) / (2 * sigma**2))
        w1 = w1 / w1.sum()
    else:
        raise ValueError(f"kernel must be 'uniform' or 'gaussian', got {kernel!r}")
    w2 = torch.outer(w1, w1).to(device=like.device, dtype=like.dtype)
    return w2.expand(channels, 1, win_size, win_size).contiguous()


def _check_window_args(win_size, sigma, k1, k2, kernel) -> None:
    if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 1 or win_size % 2 == 0:
        raise ValueError(f"win_size must be an odd positive int, got {win_size!r}")
    _check_positive(sigma, "sigma")
    _check_positive(k1, "k1")
    _check_positive(k2, "k2")
    if kernel not in ("uniform", "gaussian"):
        raise ValueError(f"kernel must be 'uniform' or 'gaussian', got {kernel!r}")


def _ssim_and_cs(x, y, data_range, kernel, win_size, sigma, k1, k2, sample_covariance):
    """Local SSIM and contrast-structure maps (Wang et al. 2004, eqs. 6-13), 'valid' windows only."""
    channels = x.shape[1]
    w = _window(kernel, win_size, sigma, channels, x)

    def filt(img):
        return F.conv2d(img, w, groups=channels)

    mu_x, mu_y = filt(x), filt(y)
    var_x = filt(x * x) - mu_x**2
    var_y = filt(y * y) - mu_y**2
    cov_xy = filt(x * y) - mu_x * mu_y
    if sample_covariance:  # unbiased local (co)variances, as scikit-image does by default
        n = win_size**2
        factor = n / (n - 1) if n > 1 else 1.0
        var_x, var_y, cov_xy = var_x * factor, var_y * factor, cov_xy * factor
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    cs_map = (2 * cov_xy + c2) / (var_x + var_y + c2)  # contrast x structure
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return luminance * cs_map, cs_map


def ssim(
    x,
    target,
    data_range: float = 2.0,
    *,
    kernel: str = "uniform",
    win_size: int = 7,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    sample_covariance: bool = True,
    reduction: str = "mean",
) -> torch.Tensor:
    """Mean structural similarity index (Wang et al. 2004, eq. 13 averaged over windows, eq. 17).

    ``SSIM = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))``
    with ``C1 = (k1 R)^2``, ``C2 = (k2 R)^2``. Windows are only placed fully inside the image, which
    equals scikit-image's ``structural_similarity`` (that filters and then crops the border).

    Defaults match ``skimage.metrics.structural_similarity`` (7 x 7 uniform window, sample covariance);
    ``kernel="gaussian", win_size=11, sigma=1.5`` matches ``gaussian_weights=True``, and additionally
    ``sample_covariance=False`` matches ``monai.metrics.SSIMMetric``.

    Returns the SSIM averaged over channels and windows, per image (``reduction="none"``) or mean.
    """
    x, target = _check_pair(x, target, ("x", "target"))
    data_range = _check_positive(data_range, "data_range")
    _check_window_args(win_size, sigma, k1, k2, kernel)
    _check_reduction(reduction)
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"images of size {tuple(x.shape[-2:])} are smaller than win_size={win_size}")
    ssim_map, _ = _ssim_and_cs(x, target, data_range, kernel, win_size, sigma, k1, k2, sample_covariance)
    return _reduce(ssim_map.flatten(1).mean(dim=1), reduction)


def ms_ssim(
    x,
    target,
    data_range: float = 2.0,
    *,
    weights: Sequence[float] = MS_SSIM_WEIGHTS,
    kernel: str = "gaussian",
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    sample_covariance: bool = False,
    reduction: str = "mean",
) -> torch.Tensor:
    """Multi-scale SSIM (Wang, Simoncelli & Bovik 2003, eq. 7).

    ``MS-SSIM = l_M^{w_M} * prod_{j=1..M} cs_j^{w_j}``: contrast-structure terms at every scale
    (2x average-pool downsampling between scales) and the luminance term only at the coarsest scale,
    so the last factor is the full SSIM there. Negative terms are clipped to zero (as MONAI does) so
    fractional powers stay real.

    The defaults (5 scales, 11 x 11 Gaussian window, population covariance) follow the paper and
    ``monai.metrics.MultiScaleSSIMMetric``. For small images pass fewer ``weights`` and a smaller
    ``win_size``, e.g. ``weights=(0.2, 0.3, 0.5), win_size=7`` for 32 x 32 images. The coarsest scale
    must still be at least ``win_size`` pixels wide; otherwise a ValueError says so.
    """
    x, target = _check_pair(x, target, ("x", "target"))
    data_range = _check_positive(data_range, "data_range")
    _check_window_args(win_size, sigma, k1, k2, kernel)
    _check_reduction(reduction)
    try:
        weight_list = [float(w) for w in weights]
    except TypeError as err:
        raise TypeError(f"weights must be a sequence of numbers, got {weights!r}") from err
    if len(weight_list) < 1 or any(w < 0 for w in weight_list):
        raise ValueError(f"weights must be a non-empty sequence of non-negative numbers, got {weights!r}")
    scales = len(weight_list)
    coarsest = min(x.shape[-2:]) // 2 ** (scales - 1)
    if coarsest < win_size:
        raise ValueError(
            f"images of size {tuple(x.shape[-2:])} are too small for {scales} scales with win_size={win_size}: "
            f"the coarsest scale would be {coarsest} pixels; use fewer weights or a smaller win_size"
        )
    factors = []
    for scale in range(scales):
        ssim_map, cs_map = _ssim_and_cs(x, target, data_range, kernel, win_size, sigma, k1, k2, sample_covariance)
        if scale < scales - 1:
            factors.append(torch.relu(cs_map.flatten(1).mean(dim=1)))
            x, target = F.avg_pool2d(x, 2), F.avg_pool2d(target, 2)
        else:
            factors.append(torch.relu(ssim_map.flatten(1).mean(dim=1)))
    stacked = torch.stack(factors)  # (scales, B)
    w = torch.tensor(weight_list, dtype=stacked.dtype, device=stacked.device).view(-1, 1)
    return _reduce(torch.prod(stacked**w, dim=0), reduction)


def pairwise_ms_ssim(samples, data_range: float = 2.0, max_pairs: int | None = None, generator=None, **kwargs):
    """Mean MS-SSIM over distinct pairs of ``samples`` ``(N, C, H, W)``: a diversity score.

    Lower values mean more diverse samples; a collapsed generator scores near 1. With ``max_pairs``
    a random subset of the ``N (N - 1) / 2`` pairs is used (drawn with ``generator``). Extra keyword
    arguments go to :func:`ms_ssim`. Returns a 0-d tensor.
    """
    samples = _as_image_batch(samples, "samples")
    n = samples.shape[0]
    if n < 2:
        raise ValueError(f"samples must contain at least 2 images, got {n}")
    i, j = torch.triu_indices(n, n, offset=1)
    if max_pairs is not None:
        if isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 1:
            raise ValueError(f"max_pairs must be a positive int or None, got {max_pairs!r}")
        if max_pairs < i.numel():
            keep = torch.randperm(i.numel(), generator=generator)[:max_pairs]
            i, j = i[keep], j[keep]
    return ms_ssim(samples[i], samples[j], data_range, reduction="mean", **kwargs)


# ----------------------------------------------------------------------------------------------- Dice
def _check_binary(mask: torch.Tensor, name: str) -> torch.Tensor:
    if mask.dtype == torch.bool:
        return mask.float()
    if not torch.all((mask == 0) | (mask == 1)):
        raise ValueError(f"{name} must be a binary mask with values in {{0, 1}}; threshold it first")
    return mask.float()


def dice(pred, target, reduction: str = "mean", empty_score: float = 1.0) -> torch.Tensor:
    """Dice-Sorensen coefficient ``2 |P n T| / (|P| + |T|)`` of binary masks, per image.

    Args:
        pred, target: binary masks ``(B, C, H, W)`` with values in ``{0, 1}`` (or bool).
        reduction: ``"mean"`` or ``"none"`` (shape ``(B,)``).
        empty_score: value when both masks are empty (1.0, like ``monai.metrics.DiceMetric`` with
            ``ignore_empty=False``).
    """
    pred, target = _check_pair(pred, target, ("pred", "target"))
    pred = _check_binary(pred, "pred")
    target = _check_binary(target, "target")
    _check_reduction(reduction)
    inter = (pred * target).flatten(1).sum(dim=1)
    total = pred.flatten(1).sum(dim=1) + target.flatten(1).sum(dim=1)
    values = torch.where(total > 0, 2 * inter / total.clamp_min(1e-12), torch.full_like(total, empty_score))
    return _reduce(values, reduction)


# ---------------------------------------------------------------------------------------------- AUROC
def auroc(scores, labels) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (any matching shapes; flattened).

    Uses the rank-sum (Mann-Whitney U) identity ``AUC = (R_pos - n_pos (n_pos + 1) / 2) / (n_pos n_neg)``
    with average ranks for ties (Hanley & McNeil 1982), which equals
    ``sklearn.metrics.roc_auc_score``. Pixel-level AUROC of an anomaly map uses the lesion mask as
    labels. Both classes must be present.
    """
    from scipy.stats import rankdata

    s = _to_numpy(scores, "scores").ravel().astype(np.float64)
    y = _to_numpy(labels, "labels").ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores and labels must have the same number of elements, got {s.size} and {y.size}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be binary with values in {0, 1}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite (no NaN or inf)")
    n_pos = int((y == 1).sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("labels must contain both classes (0 and 1) to compute an AUROC")
    ranks = rankdata(s)  # average ranks for ties
    rank_sum = ranks[y == 1].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _to_numpy(a, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    if isinstance(a, np.ndarray):
        return a
    raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(a).__name__}")


# ------------------------------------------------------------------------------------------------ MMD
def _features(a, name: str) -> torch.Tensor:
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(a)
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(a).__name__}")
    if a.ndim < 2:
        raise ValueError(f"{name} must be shaped (N, ...) with N samples, got shape {tuple(a.shape)}")
    if a.shape[0] < 2:
        raise ValueError(f"{name} must contain at least 2 samples for the unbiased MMD, got {a.shape[0]}")
    return a.reshape(a.shape[0], -1).double()


def mmd(
    x, y, sigma: float | Sequence[float] | None = None, kernel: str = "gaussian", biased: bool = False
) -> torch.Tensor:
    """Unbiased squared maximum mean discrepancy ``MMD_u^2`` (Gretton et al. 2012, eq. 3).

    ``MMD_u^2 = 1/(m(m-1)) sum_{i!=j} k(x_i,x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i,y_j) - 2/(mn) sum_{i,j} k(x_i,y_j)``

    Args:
        x: ``(m, ...)`` samples (e.g. generated images), flattened to vectors.
        y: ``(n, ...)`` samples (e.g. real images) with the same per-sample size.
        sigma: bandwidth(s) of the Gaussian kernel ``k(a, b) = exp(-|a - b|^2 / (2 sigma^2))``; a sequence
            sums several kernels; ``None`` uses the median pairwise distance of the pooled samples (median
            heuristic, Gretton et al. 2012, Sec. 8).
        kernel: ``"gaussian"``, ``"linear"`` (``k(a, b) = a . b``, as ``monai.metrics.MMDMetric``) or
            ``"polynomial"`` (``k(a, b) = (a . b / d + 1)^3`` with ``d`` the feature size, the kernel of KID).
        biased: the biased estimator ``MMD_b^2`` (Gretton et al. 2012, eq. 5: the diagonal terms kept); it is
            never negative and its value for two sets of the same distribution is ``O(1/n)``, a floor to
            compare against.

    Returns a 0-d float64 tensor; the unbiased one can be slightly negative, and is ~0 when both sets come
    from the same distribution.
    """
    fx, fy = _features(x, "x"), _features(y, "y")
    if fx.shape[1] != fy.shape[1]:
        raise ValueError(f"x and y must have the same per-sample size, got {fx.shape[1]} and {fy.shape[1]}")
    fy = fy.to(fx.device)
    m, n = fx.shape[0], fy.shape[0]
    if kernel == "linear":
        kxx, kyy, kxy = fx @ fx.T, fy @ fy.T, fx @ fy.T
    elif kernel == "polynomial":
        d = fx.shape[1]
        kxx, kyy, kxy = (fx @ fx.T / d + 1) ** 3, (fy @ fy.T / d + 1) ** 3, (fx @ fy.T / d + 1) ** 3
    elif kernel == "gaussian":
        dxx, dyy, dxy = torch.cdist(fx, fx) ** 2, torch.cdist(fy, fy) ** 2, torch.cdist(fx, fy) ** 2
        if sigma is None:
            pooled = torch.cat([fx, fy])
            dist = torch.cdist(pooled, pooled)
            off = dist[~torch.eye(len(pooled), dtype=torch.bool, device=dist.device)]
            sigmas = [float(off.median().clamp_min(1e-12))]
        elif isinstance(sigma, (int, float)) and not isinstance(sigma, bool):
            sigmas = [_check_positive(sigma, "sigma")]
        else:
            sigmas = [_check_positive(s, "sigma") for s in sigma]
            if not sigmas:
                raise ValueError("sigma must be a positive number, a non-empty sequence of them, or None")
        kxx = sum(torch.exp(-dxx / (2 * s**2)) for s in sigmas)
        kyy = sum(torch.exp(-dyy / (2 * s**2)) for s in sigmas)
        kxy = sum(torch.exp(-dxy / (2 * s**2)) for s in sigmas)
    else:
        raise ValueError(f"kernel must be 'gaussian', 'linear' or 'polynomial', got {kernel!r}")
    if biased:
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()
    term_xx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    term_yy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return term_xx + term_yy - 2 * kxy.mean()


def kid(x, y) -> torch.Tensor:
    """The KID estimator (Binkowski et al. 2018, Sec. 3): unbiased ``MMD_u^2`` with the polynomial kernel
    ``(a . b / d + 1)^3`` between the features ``x (m, d)`` and ``y (n, d)`` (any fixed feature space; the
    paper's is Inception's pool layer, here :func:`image_features`)."""
    return mmd(x, y, kernel="polynomial")


# ----------------------------------------------------------------------------------- sample quality
def image_features(images, size: int = 16) -> torch.Tensor:
    """The fixed feature space of the sample-quality measures: ``(N, C, H, W)`` images average-pooled to
    ``size x size`` (``F.adaptive_avg_pool2d``) and flattened to float64 vectors ``(N, C * size^2)``.

    Pooling keeps the anatomy (ventricles, cortex outline) and drops pixel noise; it is a fixed function,
    so a sample set and the real-vs-real floor are measured with exactly the same ruler."""
    x = _as_image_batch(images, "images")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    return F.adaptive_avg_pool2d(x.double(), size).reshape(x.shape[0], -1)


def central_slices(volumes) -> torch.Tensor:
    """The central axial, coronal and sagittal slices of volumes ``(N, 1, D, H, W)`` (cubes) as the three
    channels of images ``(N, 3, S, S)``: the input of :func:`image_features` / :func:`sample_quality` for 3D
    samples, so that volumes are measured with the same ruler as images."""
    v = volumes if isinstance(volumes, torch.Tensor) else torch.as_tensor(volumes)
    if v.ndim != 5 or v.shape[1] != 1 or not (v.shape[2] == v.shape[3] == v.shape[4]):
        raise ValueError(f"volumes must be shaped (N, 1, S, S, S), got shape {tuple(v.shape)}")
    c = v.shape[2] // 2
    return torch.stack([v[:, 0, c], v[:, 0, :, c], v[:, 0, :, :, c]], dim=1)


def _vectors(a, name: str) -> torch.Tensor:
    a = torch.from_numpy(a) if isinstance(a, np.ndarray) else a
    if not isinstance(a, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array, got {type(a).__name__}")
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"{name} must be features shaped (N, D) with N >= 1, got shape {tuple(a.shape)}")
    return a.double()


def _kth_neighbour_radius(f: torch.Tensor, k: int, name: str) -> torch.Tensor:
    """Distance of each row of ``f`` to its k-th nearest other row (itself excluded)."""
    if f.shape[0] <= k:
        raise ValueError(f"{name} needs more than k = {k} rows for k-NN radii, got {f.shape[0]}")
    d = torch.cdist(f, f)
    return d.kthvalue(k + 1, dim=1).values  # the 1st smallest is the distance 0 to itself


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaenniemi et al. 2019, eq. 1-3) of features ``fake (M, D)`` against
    ``real (N, D)``.

    The real manifold is the union of balls around each real feature with radius its distance to its
    ``k``-th nearest real neighbour; *precision* is the fraction of fake features inside it (samples that look
    real). *Recall* swaps the roles: the fraction of real features inside the fake manifold (how much of the
    real variety the samples cover). The paper uses ``k = 3``.
    """
    fr, ff = _vectors(real, "real"), _vectors(fake, "fake")
    if fr.shape[1] != ff.shape[1]:
        raise ValueError(f"real and fake must have the same feature size, got {fr.shape[1]} and {ff.shape[1]}")
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    r_real, r_fake = _kth_neighbour_radius(fr, k, "real"), _kth_neighbour_radius(ff, k, "fake")
    d = torch.cdist(ff, fr)  # (M, N)
    precision = (d <= r_real[None, :]).any(dim=1).double().mean()
    recall = (d <= r_fake[:, None]).any(dim=0).double().mean()
    return float(precision), float(recall)


def nearest_neighbour_distance(samples, train) -> torch.Tensor:
    """Per-sample Euclidean distance ``(M,)`` from each row of ``samples (M, D)`` to its nearest row of
    ``train (N, D)``: a memorised copy of a training image sits at ~0."""
    fs, ft = _vectors(samples, "samples"), _vectors(train, "train")
    if fs.shape[1] != ft.shape[1]:
        raise ValueError(f"samples and train must have the same feature size, got {fs.shape[1]} and {ft.shape[1]}")
    return torch.cdist(fs, ft).min(dim=1).values


def sample_quality(samples, train, held_out, reference, k: int = 3, size: int = 16) -> dict:
    """Every sample-quality measure of the course for one sample set, each with its real-vs-real floor.

    Args:
        samples: ``(M, C, H, W)`` generated images.
        train: the training images (for the nearest-training-neighbour distance).
        held_out: real images not trained on: the set everything is measured against.
        reference: a second set of real images not trained on, ideally ``M`` of them: measured against
            ``held_out`` exactly like ``samples``, it gives the floor a perfect model reaches.
        k, size: the k of :func:`precision_recall` and the side of :func:`image_features`.

    Returns a dict of floats: ``mmd`` / ``mmd_floor`` (biased Gaussian ``MMD_b^2``, one bandwidth for both:
    the median pairwise distance of ``held_out``), ``kid`` / ``kid_floor``, ``precision`` / ``recall`` and
    ``precision_floor`` / ``recall_floor``, ``nn_distance`` / ``nn_distance_floor`` (median over the set of
    the distance to the nearest training image), ``mmd_ratio`` (``mmd / mmd_floor``: 1 is a perfect model).
    """
    fs, ft, fh, fr = (image_features(a, size) for a in (samples, train, held_out, reference))
    dh = torch.cdist(fh, fh)
    sigma = float(dh[~torch.eye(len(fh), dtype=torch.bool)].median().clamp_min(1e-12))
    out = {
        "mmd": float(mmd(fs, fh, sigma=sigma, biased=True)),
        "mmd_floor": float(mmd(fr, fh, sigma=sigma, biased=True)),
        "kid": float(kid(fs, fh)),
        "kid_floor": float(kid(fr, fh)),
    }
    out["mmd_ratio"] = out["mmd"] / max(out["mmd_floor"], 1e-300)
    out["precision"], out["recall"] = precision_recall(fh, fs, k)
    out["precision_floor"], out["recall_floor"] = precision_recall(fh, fr, k)
    out["nn_distance"] = float(nearest_neighbour_distance(fs, ft).median())
    out["nn_distance_floor"] = float(nearest_neighbour_distance(fr, ft).median())
    return out
