"""Tests for dimedia_course.data.loaders (files are written to tmp_path; nothing is downloaded)."""

import numpy as np
import pytest
import torch

from dimedia_course.data.loaders import (
    MedNISTFolder,
    NiftiSliceDataset,
    load_dicom_series,
    load_nifti,
    resize_image,
    to_unit_range,
)


def test_helpers():
    x = torch.tensor([[0.0, 5.0], [10.0, 20.0]])
    assert torch.allclose(to_unit_range(x, 0, 10), torch.tensor([[-1.0, 0.0], [1.0, 1.0]]))
    assert to_unit_range(torch.ones(2, 2)).eq(-1).all()
    r = resize_image(torch.zeros(10, 20), 8)
    assert r.shape == (8, 8) and r[0, 0] == -1  # padded rows are background
    with pytest.raises(ValueError, match="size"):
        resize_image(torch.zeros(4, 4), 0)


def _write_nifti(path, shape=(12, 10, 8), seed=0):
    import nibabel as nib

    data = np.random.default_rng(seed).random(shape).astype(np.float32) * 100
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return data


def test_nifti(tmp_path):
    data = _write_nifti(tmp_path / "a.nii.gz")
    _write_nifti(tmp_path / "b.nii", seed=1)
    (tmp_path / "notes.txt").write_text("not an image")
    vol = load_nifti(tmp_path / "a.nii.gz", normalize=False)
    assert vol.shape == (12, 10, 8) and np.allclose(vol.numpy(), data, atol=1e-4)
    assert load_nifti(tmp_path / "a.nii.gz").min() == -1
    ds = NiftiSliceDataset(tmp_path, axis="axial", size=16, slice_range=(0.0, 1.0))
    assert len(ds) == 16 and ds[0].shape == (1, 16, 16)
    assert ds[3].min() >= -1 and ds[3].max() <= 1


def test_nifti_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        NiftiSliceDataset(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no .nii"):
        NiftiSliceDataset(tmp_path)
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="broken.nii.gz"):
        load_nifti(bad)
    with pytest.raises(ValueError, match="axis"):
        _write_nifti(tmp_path / "ok.nii")
        (tmp_path / "broken.nii.gz").unlink()
        NiftiSliceDataset(tmp_path, axis="diagonal")


def _write_dicom(path, pixels, position_z, instance):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Modality = "CT"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.ImagePositionPatient = [0, 0, position_z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.InstanceNumber = instance
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)


def test_dicom_series(tmp_path):
    for i, z in enumerate([2.0, 0.0, 1.0]):  # written out of order
        _write_dicom(tmp_path / f"s{i}.dcm", np.full((8, 8), 1000 + 100 * z), z, i)
    (tmp_path / "README").write_text("not dicom")
    hu = load_dicom_series(tmp_path, normalize=False)
    assert hu.shape == (3, 1, 8, 8)
    assert hu[:, 0, 0, 0].tolist() == [-24.0, 76.0, 176.0]  # sorted by position, rescaled to HU
    x = load_dicom_series(tmp_path, size=4, window=(76, 200))
    assert x.shape == (3, 1, 4, 4) and x.min() >= -1 and x.max() <= 1


def test_dicom_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dicom_series(tmp_path / "nope")
    (tmp_path / "README").write_text("not dicom")
    with pytest.raises(FileNotFoundError, match="no DICOM"):
        load_dicom_series(tmp_path)


def _write_png(path, value, shape=(12, 10)):
    from PIL import Image

    Image.fromarray(np.full(shape, value, dtype=np.uint8)).save(path)


def test_mednist_folder(tmp_path):
    for cls, value in [("Hand", 255), ("AbdomenCT", 0)]:
        (tmp_path / cls).mkdir()
        for i in range(3):
            _write_png(tmp_path / cls / f"{i:03d}.png", value)
    ds = MedNISTFolder(tmp_path, size=16)
    assert ds.classes == ["AbdomenCT", "Hand"] and len(ds) == 6
    image, label = ds[5]
    assert image.shape == (1, 16, 16) and label == 1 and image.max() == 1
    images, labels = ds.to_tensors()
    assert images.shape == (6, 1, 16, 16) and labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(MedNISTFolder(tmp_path, classes=["Hand"], max_per_class=2)) == 2


def test_mednist_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MedNISTFolder(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no class"):
        MedNISTFolder(tmp_path)
    (tmp_path / "Hand").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):
        MedNISTFolder(tmp_path)
    (tmp_path / "Hand" / "bad.png").write_bytes(b"not a png")
    ds = MedNISTFolder(tmp_path)
    with pytest.raises(ValueError, match="bad.png"):
        ds[0]
    with pytest.raises(ValueError, match="Chest"):
        MedNISTFolder(tmp_path, classes=["Chest"])
