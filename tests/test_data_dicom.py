"""Tests for dimedia_course.data.dicom (pydicom bundled files, offline)."""

import pytest

from dimedia_course.data.dicom import pydicom_test_file, pydicom_test_images


@pytest.mark.parametrize("modality", ["CT", "MR", "mr"])
def test_images(modality):
    x, meta = pydicom_test_images(modality, size=32, return_metadata=True)
    assert x.shape[1:] == (1, 32, 32) and x.shape[0] == len(meta) >= 1
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0.1
    assert meta[0]["modality"] == modality.upper()


def test_ct_rescale_and_window():
    _, meta = pydicom_test_images("CT", return_metadata=True)
    assert meta[0]["rescale_intercept"] == -1024.0
    lung = pydicom_test_images("CT", window=(-600, 1500))
    soft = pydicom_test_images("CT")
    assert (lung != soft).any()
    assert pydicom_test_images("CT", size=None).shape == (1, 1, 128, 128)


def test_errors():
    with pytest.raises(ValueError, match="modality"):
        pydicom_test_images("PET")
    with pytest.raises(ValueError, match="window"):
        pydicom_test_images("CT", window="bone")
    with pytest.raises(FileNotFoundError, match="not bundled"):
        pydicom_test_file("definitely_not_a_file.dcm")
