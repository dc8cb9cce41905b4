"""dimedia_course: a small, readable implementation of diffusion models for medical imaging.

Companion package of the DiMEDIA course (ISBI 2024 tutorial "Diffusion Models in Medical
Imaging and Analysis" and its MICCAI 2023 predecessor). One concept per module:

- :mod:`dimedia_course.schedules`   beta schedules, cumulative alphas, SNR
- :mod:`dimedia_course.forward`     the forward (noising) process and its posterior
- :mod:`dimedia_course.losses`      epsilon / x0 / v training objectives
- :mod:`dimedia_course.schedulers`  DDPM and DDIM samplers (MONAI/diffusers API)
- :mod:`dimedia_course.inversion`   deterministic DDIM inversion
- :mod:`dimedia_course.guidance`    classifier-free and classifier guidance
- :mod:`dimedia_course.sampling`    the reverse-process sampling loop
- :mod:`dimedia_course.nn`          a small conditional UNet and a MONAI adapter
- :mod:`dimedia_course.training`    training loop and safe checkpoints
- :mod:`dimedia_course.data`        offline medical data and loaders for your own data
- :mod:`dimedia_course.latent`      latent diffusion with MONAI's AutoencoderKL
- :mod:`dimedia_course.applications` anomaly detection, segmentation, reconstruction, synthesis
- :mod:`dimedia_course.metrics`     PSNR, SSIM, Dice, AUROC, MMD, MS-SSIM

Submodules are imported on demand, so ``import dimedia_course`` stays cheap.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "get_device", "make_generator", "seed_everything"]


def __getattr__(name: str):
    """``get_device``, ``make_generator`` and ``seed_everything`` of :mod:`dimedia_course.device`, imported on
    first use: pages and tools that never touch a tensor do not pay PyTorch's import time."""
    if name in ("get_device", "make_generator", "seed_everything"):
        from dimedia_course import device

        return getattr(device, name)
    raise AttributeError(f"module 'dimedia_course' has no attribute {name!r}")
