"""Segmentation with a conditional diffusion model and ensemble uncertainty (Wolleb et al. 2021).

The diffusion model generates the *mask*: it denoises ``m_t`` (the mask scaled to ``[-1, 1]`` and noised)
while seeing the image ``x`` concatenated along channels, ``model(cat[m_t, x], t)``, i.e. it learns
``p(mask | image)``. Because sampling is stochastic, several masks can be drawn for the same image:
their mean is the segmentation (thresholded at 0.5, i.e. at 0 in the ``[-1, 1]`` signal space) and their
pixel-wise variance is an *uncertainty map* (Wolleb et al. 2021, Sec. 2.2), which is high on ambiguous
boundaries.

Training is :func:`dimedia_course.training.train_diffusion` with the image as ``concat_condition``. Masks
are nearly binary, so a scheduler with ``prediction_type="sample"`` (the network predicts the clean mask
``m_0``) learns much faster in short CPU runs than epsilon prediction, whose ``m_0`` estimate
``(m_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)`` amplifies errors at high noise.
"""

from __future__ import annotations

import torch

from dimedia_course.metrics import dice
from dimedia_course.sampling import sample
from dimedia_course.training import train_diffusion
from dimedia_course.validation import (
    check_binary_mask,
    check_images,
    check_positive_int,
    check_scheduler,
    model_device,
)

__all__ = ["mask_to_signal", "signal_to_mask", "train_segmentation_model", "segment", "evaluate_segmentation"]


def mask_to_signal(masks: torch.Tensor) -> torch.Tensor:
    """Binary masks ``{0, 1}`` -> diffusion targets in ``{-1, 1}``."""
    return 2 * check_binary_mask(masks, "masks") - 1


def signal_to_mask(signal: torch.Tensor) -> torch.Tensor:
    """Generated signals in ``[-1, 1]`` -> soft masks in ``[0, 1]``."""
    return ((signal + 1) / 2).clamp(0, 1)


def train_segmentation_model(
    model, images, masks, scheduler, *, steps: int, batch_size: int = 32, lr: float = 2e-3, generator=None
) -> list[float]:
    """Fit ``model`` (``in_channels = mask channels + image channels``) to denoise masks given images
    (Wolleb et al. 2021, Sec. 2.1): the simple loss with the scheduler's ``prediction_type``, Adam with a
    cosine learning-rate decay. Returns the per-step losses."""
    check_images(images, "images")
    check_images(masks, "masks")
    check_positive_int(steps, "steps")
    if masks.shape[0] != images.shape[0] or masks.shape[-2:] != images.shape[-2:]:
        raise ValueError(f"masks {tuple(masks.shape)} and images {tuple(images.shape)} must match in batch and size")
    history = train_diffusion(
        model,
        mask_to_signal(masks),
        scheduler,
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        concat_condition=images,
        generator=generator,
        device=model_device(model),
        lr_schedule="cosine",
        grad_clip=None,
        progress=False,
    )
    return history["loss"]


def segment(
    model,
    scheduler,
    images: torch.Tensor,
    *,
    n_samples: int = 5,
    num_inference_steps: int = 25,
    eta: float = 1.0,
    threshold: float = 0.5,
    generator: torch.Generator | None = None,
) -> dict:
    """Sample an ensemble of ``n_samples`` masks per image (Wolleb et al. 2021, Alg. 1 with DDIM steps).

    ``eta=1`` keeps DDIM stochastic like DDPM, so the ensemble members differ.

    Returns a dict: ``samples`` ``(n_samples, B, 1, H, W)`` soft masks, ``mean`` (soft segmentation),
    ``segmentation`` (``mean > threshold``, binary float), ``variance`` (uncertainty map).
    """
    check_scheduler(scheduler)
    check_images(images, "images")
    check_positive_int(n_samples, "n_samples")
    check_positive_int(num_inference_steps, "num_inference_steps")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    b, _, h, w = images.shape
    # draw the whole ensemble in one batch: repeat each image n_samples times
    cond = images.repeat(n_samples, 1, 1, 1)
    x_T = torch.randn((n_samples * b, 1, h, w), generator=generator, device=images.device, dtype=images.dtype)
    out = sample(
        model,
        scheduler,
        x_T=x_T,
        num_inference_steps=num_inference_steps,
        eta=eta,
        generator=generator,
        concat_condition=cond,
    )
    samples = signal_to_mask(out).view(n_samples, b, 1, h, w)
    mean = samples.mean(dim=0)
    return {
        "samples": samples,
        "mean": mean,
        "segmentation": (mean > threshold).float(),
        "variance": samples.var(dim=0, unbiased=False),
    }


def evaluate_segmentation(result: dict, masks: torch.Tensor) -> dict:
    """Dice of the ensemble segmentation and of the individual samples, and uncertainty summaries:
    mean variance on wrongly vs correctly segmented pixels (a useful uncertainty map is larger on errors)."""
    masks = check_binary_mask(masks, "masks")
    seg = result["segmentation"]
    if seg.shape != masks.shape:
        raise ValueError(f"masks must be shaped like the segmentation {tuple(seg.shape)}, got {tuple(masks.shape)}")
    samples = result["samples"]
    member_dice = torch.stack([dice((s > 0.5).float(), masks) for s in samples])
    errors = seg != masks
    var = result["variance"]
    return {
        "dice": float(dice(seg, masks)),
        "dice_single_sample": float(member_dice.mean()),
        "mean_variance": float(var.mean()),
        "variance_on_errors": float(var[errors].mean()) if errors.any() else float("nan"),
        "variance_on_correct": float(var[~errors].mean()) if (~errors).any() else float("nan"),
    }
