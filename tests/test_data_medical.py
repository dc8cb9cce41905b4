"""Real-data adapters (dimedia_course.data.medical) on tiny fixtures in MONAI's exact on-disk layouts, offline."""

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from dimedia_course.data import DatasetUnavailableError, decathlon_brain_slices, load_dataset, mednist


@pytest.fixture
def mednist_root(tmp_path):
    """root/MedNIST/<Class>/*.jpeg, as MedNIST.tar.gz unpacks (64 x 64 greyscale JPEGs)."""
    rng = np.random.default_rng(0)
    for cls in ("AbdomenCT", "Hand", "HeadCT"):
        folder = tmp_path / "MedNIST" / cls
        folder.mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(folder / f"{i:06d}.jpeg")
    return tmp_path


@pytest.fixture
def decathlon_root(tmp_path):
    """root/Task01_BrainTumour/{dataset.json, imagesTr/*.nii.gz (X, Y, Z, 4), labelsTr/*.nii.gz}."""
    task = tmp_path / "Task01_BrainTumour"
    (task / "imagesTr").mkdir(parents=True)
    (task / "labelsTr").mkdir()
    rng = np.random.default_rng(1)
    training = []
    for case in range(5):
        image = np.zeros((24, 24, 12, 4), dtype=np.float32)
        image[4:20, 4:20, 2:10] = rng.uniform(100, 1000, (16, 16, 8, 4))
        label = np.zeros((24, 24, 12), dtype=np.uint8)
        label[8:14, 8:14, 4:7] = 1 + case % 3
        name = f"BRATS_{case:03d}.nii.gz"
        nib.save(nib.Nifti1Image(image, np.eye(4)), task / "imagesTr" / name)
        nib.save(nib.Nifti1Image(label, np.eye(4)), task / "labelsTr" / name)
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    meta = {
        "name": "BRATS",
        "description": "fixture",
        "reference": "fixture",
        "licence": "CC-BY-SA 4.0",
        "tensorImageSize": "4D",
        "modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
        "labels": {"0": "background", "1": "edema", "2": "non-enhancing tumor", "3": "enhancing tumour"},
        "numTraining": 5,
        "numTest": 0,
        "training": training,
        "test": [],
    }
    (task / "dataset.json").write_text(json.dumps(meta))
    return tmp_path


def test_mednist_through_monai(mednist_root):
    images, labels, names = mednist(mednist_root, section="training", size=32)
    assert names == ["AbdomenCT", "Hand", "HeadCT"]
    assert images.shape == (24, 1, 32, 32) and images.dtype == torch.float32  # 80 % of 30
    assert float(images.min()) >= -1 and float(images.max()) <= 1
    assert set(labels.tolist()) <= {0, 1, 2}
    _, test_labels, _ = mednist(mednist_root, section="test", size=32)
    assert len(test_labels) == 3
    images, labels, names = mednist(mednist_root, classes=["Hand", "HeadCT"], size=16)
    assert names == ["Hand", "HeadCT"] and set(labels.tolist()) <= {0, 1} and images.shape[-1] == 16
    with pytest.raises(ValueError, match="classes"):
        mednist(mednist_root, classes=["Knee"])


def test_decathlon_brain_slices_through_monai(decathlon_root):
    images, masks, labels = decathlon_brain_slices(decathlon_root, size=32, slices_per_volume=4)
    assert images.shape[1:] == (1, 32, 32) and masks.shape == images.shape
    assert images.shape[0] == 4 * 4  # 4 training cases (MONAI's 80 / 20 split of 5), 4 slices each
    assert set(masks.unique().tolist()) <= {0.0, 1.0} and labels.sum() > 0
    assert float(images.min()) >= -1 and float(images.max()) <= 1
    val_images, _, _ = decathlon_brain_slices(decathlon_root, section="validation", size=32, slices_per_volume=4)
    assert val_images.shape[0] == 4
    with pytest.raises(ValueError, match="modality"):
        decathlon_brain_slices(decathlon_root, modality=7)


def test_missing_data_fails_at_once_with_instructions(tmp_path, monkeypatch):
    with pytest.raises(DatasetUnavailableError, match="MedNIST is not in .*MedNIST.tar.gz"):
        mednist(tmp_path)
    with pytest.raises(DatasetUnavailableError, match="Task01_BrainTumour.*dataset.json.*untar"):
        decathlon_brain_slices(tmp_path)
    monkeypatch.setenv("DIMEDIA_DATA", str(tmp_path / "cache"))
    with pytest.raises(DatasetUnavailableError, match=str(tmp_path / "cache")):
        mednist()
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    import monai.apps

    class Offline(monai.apps.MedNISTDataset):
        def __init__(self, root_dir, *args, **kwargs):
            (root_dir / "MedNIST.tar.gz").write_bytes(b"partial")
            raise RuntimeError("no internet")

    monkeypatch.setattr(monai.apps, "MedNISTDataset", Offline)
    with pytest.raises(RuntimeError, match="no internet"):
        mednist(tmp_path, download=True)
    assert list(tmp_path.iterdir()) == []


def test_load_dataset_by_name(mednist_root):
    images, labels = load_dataset("mni152", size=16, n=4)
    assert images.shape == (4, 1, 16, 16) and labels is None
    images, labels = load_dataset("mednist", root=mednist_root, size=16, n=5)
    assert images.shape == (5, 1, 16, 16) and labels.shape == (5,)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet")


def test_offline_mni152_levels_and_volumes():
    from dimedia_course.data import MNI152_LEVELS, mni152_slices

    images, labels = load_dataset("mni152-levels", size=16, n=10, seed=3)
    assert images.shape == (10, 1, 16, 16) and set(labels.tolist()) == {0, 1}
    # each image is a slice of its class's range: the same draw as mni152_slices of that range
    per_class = 10 // len(MNI152_LEVELS) + 1
    inferior = mni152_slices(n=per_class, size=16, slice_range=MNI152_LEVELS[0][1], seed=3)
    for image, label in zip(images, labels):
        if label == 0:
            assert any(torch.equal(image, ref) for ref in inferior)
    volumes, none = load_dataset("mni152-3d", size=8, n=2)
    assert volumes.shape == (2, 1, 8, 8, 8) and none is None
