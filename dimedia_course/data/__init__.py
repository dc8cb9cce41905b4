"""Offline medical images and loaders for your own data.

Nothing here downloads anything:

- :func:`mni152_slices` healthy brain MRI slices from the MNI152 template bundled with nilearn;
- :func:`shepp_logan`, :func:`random_ellipse_phantoms` CT phantoms (scikit-image / generated);
- :func:`pydicom_test_images` real CT and MR slices bundled with pydicom;
- :func:`add_synthetic_lesions`, :func:`make_lesion_dataset`, :func:`brain_lesion_dataset`
  synthetic anomalies with ground-truth masks;
- :func:`load_nifti`, :class:`NiftiSliceDataset`, :func:`load_dicom_series`, :class:`MedNISTFolder`
  loaders for data you already have on disk.

All images are float32 ``(N, 1, H, W)`` tensors scaled to ``[-1, 1]``.
"""

from dimedia_course.data.brain import (
    augment_slices,
    brain_mask,
    mni152_cache_file,
    mni152_slices,
    mni152_volume,
    mni152_volumes,
)
from dimedia_course.data.dicom import pydicom_test_images
from dimedia_course.data.lesions import add_synthetic_lesions, brain_lesion_dataset, make_lesion_dataset
from dimedia_course.data.loaders import (
    MedNISTFolder,
    NiftiSliceDataset,
    load_dicom_series,
    load_nifti,
    resize_image,
    to_unit_range,
)
from dimedia_course.data.medical import (
    MNI152_LEVELS,
    DatasetUnavailableError,
    decathlon_brain_slices,
    default_data_dir,
    load_dataset,
    mednist,
)
from dimedia_course.data.phantoms import random_ellipse_phantoms, shepp_logan

__all__ = [
    "MNI152_LEVELS",
    "DatasetUnavailableError",
    "decathlon_brain_slices",
    "default_data_dir",
    "load_dataset",
    "mednist",
    "mni152_slices",
    "mni152_volume",
    "mni152_volumes",
    "mni152_cache_file",
    "augment_slices",
    "brain_mask",
    "shepp_logan",
    "random_ellipse_phantoms",
    "pydicom_test_images",
    "add_synthetic_lesions",
    "make_lesion_dataset",
    "brain_lesion_dataset",
    "load_nifti",
    "NiftiSliceDataset",
    "load_dicom_series",
    "MedNISTFolder",
    "resize_image",
    "to_unit_range",
]
