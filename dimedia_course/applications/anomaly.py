"""Unsupervised anomaly detection with a diffusion model trained on healthy images only.

Idea (Wolleb et al. 2022; Pinaya et al. 2022; Wyatt et al. 2022 "AnoDDPM"): bring a possibly abnormal
image ``x`` to an intermediate noise level ``t_L`` and denoise it with a model that has only seen healthy
anatomy. The noise destroys the fine detail of the lesion; the model fills it in with healthy tissue,
so the *reconstruction* ``x_hat`` is a pseudo-healthy version of ``x`` and the anomaly map is
``|x - x_hat|`` (optionally smoothed and restricted to the brain).

Two ways to reach level ``t_L``:

- ``method="partial_noise"``: ``x_L = sqrt(abar_L) x + sqrt(1 - abar_L) eps`` (Ho et al. 2020, eq. 4),
  then DDIM from ``t_L`` (Pinaya et al. 2022; Wyatt et al. 2022). Stochastic, strong healing.
- ``method="ddim"``: deterministic DDIM inversion to ``t_L`` (Song et al. 2021, Sec. 4.3) then DDIM back
  (Wolleb et al. 2022, who add classifier guidance towards "healthy" on the way back; here the healthy
  prior alone does the healing, which is weaker because the inversion keeps the lesion encoded).

The maps are scored with pixel-level AUROC and Dice of the thresholded map against the lesion masks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dimedia_course.data.brain import brain_mask as threshold_mask
from dimedia_course.inversion import ddim_invert
from dimedia_course.metrics import auroc, dice
from dimedia_course.sampling import sample, set_inference_timesteps
from dimedia_course.validation import check_binary_mask, check_images, check_positive_int, check_scheduler

__all__ = ["brain_mask", "gaussian_smooth", "healthy_reconstruction", "anomaly_map", "evaluate_anomaly_maps"]


def brain_mask(images: torch.Tensor, threshold: float = -0.9) -> torch.Tensor:
    """Foreground mask ``images > threshold`` (background is -1 in the course's ``[-1, 1]`` scaling),
    with holes closed by a 3 x 3 max-pool/min-pool (morphological closing)."""
    check_images(images, "images")
    fg = threshold_mask(images, threshold)
    closed = -F.max_pool2d(-F.max_pool2d(fg, 3, 1, 1), 3, 1, 1)
    return closed


def gaussian_smooth(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (std ``sigma`` pixels, radius ``ceil(3 sigma)``); ``sigma=0`` is a no-op."""
    check_images(maps, "maps")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or sigma < 0:
        raise ValueError(f"sigma must be a non-negative number, got {sigma!r}")
    if sigma == 0:
        return maps
    radius = max(1, math.ceil(3 * sigma))
    coords = torch.arange(-radius, radius + 1, dtype=maps.dtype, device=maps.device)
    kernel = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = maps.shape[1]
    kx = kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    ky = kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    out = F.conv2d(F.pad(maps, (radius, radius, 0, 0), mode="replicate"), kx, groups=c)
    return F.conv2d(F.pad(out, (0, 0, radius, radius), mode="replicate"), ky, groups=c)


def _start_index(noise_level: float, num_inference_steps: int) -> int:
    if isinstance(noise_level, bool) or not isinstance(noise_level, (int, float)) or not 0 < noise_level <= 1:
        raise ValueError(f"noise_level must be a fraction of the diffusion in (0, 1], got {noise_level!r}")
    n_denoise = max(1, round(noise_level * num_inference_steps))
    return num_inference_steps - n_denoise


def healthy_reconstruction(
    model,
    scheduler,
    images: torch.Tensor,
    *,
    noise_level: float = 0.4,
    num_inference_steps: int = 50,
    method: str = "partial_noise",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pseudo-healthy reconstruction of ``images`` from noise level ``noise_level`` (fraction of the
    ``T`` training steps, e.g. 0.4 = ``t_L ~ 400`` of 1000) with a model trained on healthy images.

    ``method="partial_noise"`` noises the image to ``t_L`` with the scheduler's ``add_noise`` (eq. 4 of Ho et al.
    2020; SDEdit-like, Meng et al. 2022); ``method="ddim"`` encodes it deterministically with
    :func:`~dimedia_course.inversion.ddim_invert` (Wolleb et al. 2022). Both decode with
    :func:`~dimedia_course.sampling.sample` from ``start_index``, on the scheduler's own timesteps, so
    that inversion and decoding mirror each other (use a DDIM scheduler with ``clip_sample=False`` for
    ``"ddim"``: clipping breaks invertibility).
    """
    check_scheduler(scheduler)
    check_images(images, "images")
    check_positive_int(num_inference_steps, "num_inference_steps")
    if method not in ("partial_noise", "ddim"):
        raise ValueError(f"method must be 'partial_noise' or 'ddim', got {method!r}")
    start = _start_index(noise_level, num_inference_steps)
    timesteps = set_inference_timesteps(scheduler, num_inference_steps)
    if method == "partial_noise":
        noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
        x_L = scheduler.add_noise(images, noise, timesteps[start])  # Ho et al. 2020, eq. 4
    else:
        x_L = ddim_invert(model, scheduler, images, num_inference_steps=None, stop_index=start)
    return sample(model, scheduler, x_T=x_L, start_index=start, generator=generator)


def anomaly_map(
    model,
    scheduler,
    images: torch.Tensor,
    *,
    noise_level: float = 0.4,
    num_inference_steps: int = 50,
    method: str = "partial_noise",
    n_repeats: int = 1,
    smooth_sigma: float = 1.0,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Anomaly map ``|x - x_hat|`` averaged over channels and ``n_repeats`` stochastic reconstructions,
    Gaussian-smoothed (``smooth_sigma`` pixels) and zeroed outside ``mask`` (e.g. :func:`brain_mask`).

    Returns ``(reconstruction, map)``: the (last) pseudo-healthy image ``(B, C, H, W)`` and the anomaly
    map ``(B, 1, H, W)``.
    """
    check_images(images, "images")
    check_positive_int(n_repeats, "n_repeats")
    if mask is not None:
        mask = check_binary_mask(mask, "mask")
        if mask.shape[0] != images.shape[0] or mask.shape[-2:] != images.shape[-2:] or mask.ndim != 4:
            raise ValueError(f"mask must be shaped (B, 1, H, W) like images, got {tuple(mask.shape)}")
    total = torch.zeros_like(images[:, :1])
    for _ in range(n_repeats):
        recon = healthy_reconstruction(
            model,
            scheduler,
            images,
            noise_level=noise_level,
            num_inference_steps=num_inference_steps,
            method=method,
            generator=generator,
        )
        total = total + (images - recon).abs().mean(dim=1, keepdim=True)
    amap = gaussian_smooth(total / n_repeats, smooth_sigma)
    if mask is not None:
        amap = amap * mask.to(amap)
    return recon, amap


def evaluate_anomaly_maps(
    maps: torch.Tensor,
    lesion_masks: torch.Tensor,
    *,
    region: torch.Tensor | None = None,
    threshold: float | None = None,
) -> dict:
    """Pixel-level AUROC and Dice of anomaly ``maps`` against binary ``lesion_masks`` (both ``(B,1,H,W)``).

    Args:
        region: optional binary mask of pixels to score (e.g. the brain); AUROC uses only those pixels.
        threshold: map value above which a pixel is called anomalous (e.g. a high percentile of maps of
            healthy validation images). The best achievable Dice over thresholds ("Dice_max", an
            optimistic upper bound common in the literature, Baur et al. 2021) is reported as well.

    Returns a dict with ``auroc``, ``dice`` (at ``threshold``; NaN when none is given), ``best_dice`` and
    ``best_threshold``.
    """
    check_images(maps, "maps")
    lesion_masks = check_binary_mask(lesion_masks, "lesion_masks")
    if lesion_masks.shape != maps.shape:
        raise ValueError(
            f"maps and lesion_masks must have the same shape, got {tuple(maps.shape)} and {tuple(lesion_masks.shape)}"
        )
    if region is None:
        keep = torch.ones_like(maps, dtype=torch.bool)
    else:
        region = check_binary_mask(region, "region")
        if region.shape != maps.shape:
            raise ValueError(f"region must be shaped like maps {tuple(maps.shape)}, got {tuple(region.shape)}")
        keep = region.bool()
    scores, labels = maps[keep], lesion_masks[keep]
    result = {"auroc": auroc(scores, labels)}
    region_f = keep.float()
    if threshold is not None:
        result["dice"] = float(dice((maps > threshold).float() * region_f, lesion_masks))
    else:
        result["dice"] = float("nan")
    best, best_t = -1.0, float("nan")
    for q in torch.linspace(0.5, 0.999, 60):
        t = float(torch.quantile(scores.float(), q))
        d = float(dice((maps > t).float() * region_f, lesion_masks))
        if d > best:
            best, best_t = d, t
    result["best_dice"] = best
    result["best_threshold"] = best_t
    return result
