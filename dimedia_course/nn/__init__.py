"""Denoising networks for the course.

- :class:`SmallUNet`: a small conditional UNet written from scratch (Ho et al. 2020, app. B).
- :class:`MonaiUNetAdapter`: MONAI's ``DiffusionModelUNet`` with the same calling convention.
- :class:`NoisyClassifier`: a time-conditioned classifier for classifier guidance
  (Dhariwal & Nichol 2021); :func:`fit_judge` trains one on clean images to judge class-conditional samples.

All networks are called as ``model(x, t, y=None)`` (the classifier as ``classifier(x, t)``);
index ``num_classes`` is the null label of classifier-free guidance.
"""

from dimedia_course.nn.classifier import NoisyClassifier, fit_judge, judge_accuracy, train_noisy_classifier
from dimedia_course.nn.embeddings import TimestepEmbedding, timestep_embedding
from dimedia_course.nn.monai_adapter import MonaiUNetAdapter
from dimedia_course.nn.unet import SmallUNet, count_parameters

__all__ = [
    "SmallUNet",
    "MonaiUNetAdapter",
    "NoisyClassifier",
    "train_noisy_classifier",
    "fit_judge",
    "judge_accuracy",
    "TimestepEmbedding",
    "timestep_embedding",
    "count_parameters",
]
