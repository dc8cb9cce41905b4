"""Class-conditional synthesis of medical images with classifier-free guidance, and its evaluation.

A single network is trained with and without the class label (the label is replaced by the null
label ``num_classes`` with probability ``p_uncond``, Ho & Salimans 2022, Alg. 1). At sampling time the
two predictions are combined, ``eps = eps(x, null) + s (eps(x, y) - eps(x, null))`` (eq. 6 written with
the guidance scale ``s = 1 + w`` of the paper's weight ``w``); ``s = 1`` is plain conditional sampling,
larger ``s`` trades diversity for class fidelity. Sampling is :func:`~dimedia_course.sampling.sample` with
``y`` and ``guidance_scale`` (:func:`~dimedia_course.guidance.classifier_free_guidance`).

Evaluation without a pretrained feature network (offline, CPU):

- **MMD** between generated and real images of each class, Gaussian kernel on pixels with the
  median-heuristic bandwidth (Gretton et al. 2012, eq. 3): fidelity (lower is better, ~0 = same law);
- **MS-SSIM diversity**: mean MS-SSIM between pairs of generated images (Wang et al. 2003; used for
  medical generative models by e.g. Pinaya et al. 2022): lower = more diverse. Compare with the same
  number for real images.
"""

from __future__ import annotations

import torch

from dimedia_course.metrics import mmd, pairwise_ms_ssim
from dimedia_course.sampling import sample
from dimedia_course.validation import check_images, check_positive_int, check_scheduler, model_device

__all__ = ["synthesize", "evaluate_synthesis", "SMALL_MS_SSIM"]

#: MS-SSIM settings that fit 32 x 32 images: 3 scales (Wang et al. 2003 weights of scales 1-3,
#: renormalised) and a 5 x 5 Gaussian window.
SMALL_MS_SSIM = {"weights": (0.0448 / 0.6305, 0.2856 / 0.6305, 0.3001 / 0.6305), "win_size": 5, "sigma": 1.0}


def synthesize(
    model,
    scheduler,
    labels: torch.Tensor,
    *,
    image_shape: tuple[int, int, int],
    num_classes: int,
    guidance_scale: float = 2.0,
    num_inference_steps: int = 50,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Generate one image per entry of ``labels`` (ints in ``[0, num_classes)``) with the CFG scale
    ``guidance_scale`` (``s``: 1 = plain conditional, 0 = unconditional). Returns ``(B, C, H, W)``."""
    check_scheduler(scheduler)
    check_positive_int(num_inference_steps, "num_inference_steps")
    check_positive_int(num_classes, "num_classes")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.dtype not in (torch.int64, torch.int32):
        raise TypeError("labels must be a 1-D integer (long) tensor of class indices")
    if labels.numel() == 0 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must be non-empty class indices in [0, {num_classes}), got {labels.tolist()}")
    if len(image_shape) != 3 or not all(isinstance(s, int) and s > 0 for s in image_shape):
        raise ValueError(f"image_shape must be (C, H, W) positive ints, got {image_shape!r}")
    if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float)) or guidance_scale < 0:
        raise ValueError(f"guidance_scale must be a non-negative number, got {guidance_scale!r}")
    device = model_device(model)
    x_T = torch.randn((labels.numel(), *image_shape), generator=generator, device=device)
    return sample(
        model,
        scheduler,
        x_T=x_T,
        y=labels.long().to(device),
        guidance_scale=float(guidance_scale),
        null_label=num_classes,
        num_inference_steps=num_inference_steps,
        eta=eta,
        generator=generator,
    )


def evaluate_synthesis(
    samples,
    sample_labels,
    real,
    real_labels,
    ms_ssim_kwargs: dict | None = None,
    max_pairs: int | None = 200,
    generator=None,
) -> dict:
    """Per-class and mean MMD (generated vs real) and MS-SSIM diversity (generated, and real for reference).

    Returns ``{"mmd": mean over classes, "ms_ssim": mean generated diversity, "ms_ssim_real": ...,
    "per_class": {c: {...}}}``. ``ms_ssim_kwargs`` defaults to :data:`SMALL_MS_SSIM`.
    """
    check_images(samples, "samples")
    check_images(real, "real")
    if samples.shape[1:] != real.shape[1:]:
        raise ValueError(f"samples {tuple(samples.shape[1:])} and real {tuple(real.shape[1:])} images differ in size")
    for name, lab, imgs in (("sample_labels", sample_labels, samples), ("real_labels", real_labels, real)):
        if not isinstance(lab, torch.Tensor) or lab.shape != (imgs.shape[0],):
            raise ValueError(f"{name} must be a 1-D tensor with one label per image")
    kw = dict(SMALL_MS_SSIM if ms_ssim_kwargs is None else ms_ssim_kwargs)
    per_class = {}
    for c in sorted(set(sample_labels.tolist())):
        gen_c, real_c = samples[sample_labels == c], real[real_labels == c]
        if len(gen_c) < 2 or len(real_c) < 2:
            raise ValueError(f"class {c} needs at least 2 generated and 2 real images")
        per_class[c] = {
            "mmd": float(mmd(gen_c, real_c)),
            "ms_ssim": float(pairwise_ms_ssim(gen_c, max_pairs=max_pairs, generator=generator, **kw)),
            "ms_ssim_real": float(pairwise_ms_ssim(real_c, max_pairs=max_pairs, generator=generator, **kw)),
        }
    mean = {k: sum(v[k] for v in per_class.values()) / len(per_class) for k in ("mmd", "ms_ssim", "ms_ssim_real")}
    return {**mean, "per_class": per_class}
