"""Real medical datasets through MONAI's own dataset classes, as the course's tensors.

- :func:`mednist`: MedNIST (the 2D dataset of the MONAI Generative Models tutorials that the ISBI 2024
  demonstration followed: 64 x 64 images in six classes), via :class:`monai.apps.MedNISTDataset`;
- :func:`decathlon_brain_slices`: axial slices of the Medical Segmentation Decathlon Task01 BrainTumour
  (multi-modal MRI with tumour labels; Antonelli et al. 2022), via :class:`monai.apps.DecathlonDataset`;
- :func:`load_dataset`: one entry point by name (``"mni152"``, the offline default, ``"mednist"``,
  ``"decathlon-brain"``).

Images come back as ``(N, 1, size, size)`` float tensors in ``[-1, 1]``, masks as ``{0, 1}`` floats. Nothing is
downloaded unless ``download=True``: without the data on disk the loaders fail at once with a
:class:`DatasetUnavailableError` that names the dataset, the folder looked in and how to fetch it by hand.
Downloads go through MONAI (``download_and_extract``, with its md5 check) into a temporary folder that is renamed
into place only when complete, so an interrupted download leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dimedia_course.validation import check_positive_int

__all__ = [
    "DATASETS",
    "MNI152_LEVELS",
    "DatasetUnavailableError",
    "default_data_dir",
    "mednist",
    "decathlon_brain_slices",
    "load_dataset",
]

MEDNIST_URL = "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/MedNIST.tar.gz"
BRAIN_TUMOUR_URL = "https://msd-for-monai.s3-us-west-2.amazonaws.com/Task01_BrainTumour.tar"
DATASETS = ("mni152", "mni152-levels", "mni152-3d", "mednist", "decathlon-brain")

#: The two classes of ``"mni152-levels"``: axial slices of the lower and of the upper part of the brain, as
#: ``(name, slice_range)`` with the range in fractions of the axial extent of the template.
MNI152_LEVELS = (("inferior", (0.35, 0.5)), ("superior", (0.55, 0.7)))


class DatasetUnavailableError(FileNotFoundError):
    """A dataset is not on disk (and was not to be downloaded); the message says how to get it."""


def default_data_dir() -> Path:
    """Where datasets live: ``$DIMEDIA_DATA``, else ``~/.cache/dimedia_course/data``."""
    return Path(os.environ.get("DIMEDIA_DATA", Path.home() / ".cache" / "dimedia_course" / "data"))


def _root(root) -> Path:
    return Path(default_data_dir() if root is None else root).expanduser()


def _download_atomically(root: Path, folder: str, make_dataset) -> None:
    """Run ``make_dataset(tmp)`` (a MONAI dataset with ``download=True``) in a temporary folder inside ``root``
    and move ``tmp/folder`` to ``root/folder`` only once it is complete."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))
    try:
        make_dataset(tmp)
        os.replace(tmp / folder, root / folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _to_unit_range(x: torch.Tensor) -> torch.Tensor:
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo).clamp_min(1e-8) * 2 - 1


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x[None, None].float(), size=(size, size), mode="bilinear", align_corners=False)[0, 0]


def mednist(root=None, *, section: str = "training", size: int = 64, classes=None, download: bool = False, seed=0):
    """MedNIST images ``(N, 1, size, size)`` in ``[-1, 1]``, labels ``(N,)`` and the class names.

    Args:
        root: folder holding ``MedNIST/<Class>/*.jpeg`` (default :func:`default_data_dir`).
        section: ``"training"``, ``"validation"`` or ``"test"`` (MONAI's split, fractions 0.8 / 0.1 / 0.1).
        size: output side length (MedNIST images are 64 x 64).
        classes: keep only these class names (e.g. ``["Hand", "HeadCT"]``); labels follow their order.
        download: fetch ``MedNIST.tar.gz`` (about 60 MB) through MONAI when it is not on disk.
        seed: MONAI's split seed.
    """
    from monai.apps import MedNISTDataset
    from monai.transforms import LoadImaged

    root = _root(root)
    size = check_positive_int(size, "size")
    if not (root / "MedNIST").is_dir():
        if not download:
            raise DatasetUnavailableError(
                f"MedNIST is not in {root}: expected {root / 'MedNIST'}/<Class>/*.jpeg. Fetch it with "
                f"mednist(download=True) (internet needed), or by hand: download {MEDNIST_URL} and unpack it into "
                f"{root} (set $DIMEDIA_DATA to use another folder)."
            )
        _download_atomically(
            root, "MedNIST", lambda tmp: MedNISTDataset(tmp, section=section, download=True, progress=False)
        )
    dataset = MedNISTDataset(
        root, section=section, download=False, seed=seed, transform=LoadImaged("image"), cache_rate=0.0, progress=False
    )
    items = [dataset[i] for i in range(len(dataset))]
    names = sorted({item["class_name"] for item in items})
    keep = list(classes) if classes is not None else names
    unknown = sorted(set(keep) - set(names))
    if unknown:
        raise ValueError(f"classes: unknown {unknown}; MedNIST has {names}")
    items = [item for item in items if item["class_name"] in keep]
    if not items:
        raise DatasetUnavailableError(f"MedNIST in {root}: no image in section {section!r}")
    images = torch.stack([_to_unit_range(_resize(torch.as_tensor(np.asarray(it["image"])), size)) for it in items])
    labels = torch.tensor([keep.index(it["class_name"]) for it in items])
    return images[:, None], labels, keep


def decathlon_brain_slices(
    root=None,
    *,
    section: str = "training",
    size: int = 64,
    modality: int = 0,
    slices_per_volume: int = 8,
    download: bool = False,
    seed: int = 0,
):
    """Axial slices of MSD Task01 BrainTumour: images ``(N, 1, size, size)`` in ``[-1, 1]`` (one MRI ``modality``:
    0 FLAIR, 1 T1w, 2 T1gd, 3 T2w), tumour masks ``(N, 1, size, size)`` (any tumour label) and per-slice labels
    ``(N,)`` (1 = tumour present).

    ``slices_per_volume`` slices are taken evenly over the part of each volume that contains brain. ``section``
    is MONAI's split of the training cases (``"training"``/``"validation"``, 80 / 20 %, by case, so slices of one
    patient never land in both).
    """
    from monai.apps import DecathlonDataset
    from monai.transforms import LoadImaged

    root = _root(root)
    size = check_positive_int(size, "size")
    slices_per_volume = check_positive_int(slices_per_volume, "slices_per_volume")
    if modality not in (0, 1, 2, 3):
        raise ValueError(f"modality must be 0 (FLAIR), 1 (T1w), 2 (T1gd) or 3 (T2w), got {modality!r}")
    task = "Task01_BrainTumour"
    if not (root / task / "dataset.json").is_file():
        if not download:
            raise DatasetUnavailableError(
                f"the Medical Segmentation Decathlon {task} is not in {root}: expected {root / task}/dataset.json, "
                f"imagesTr/*.nii.gz (4 MRI channels) and labelsTr/*.nii.gz. Fetch it with "
                f"decathlon_brain_slices(download=True) (about 7 GB, internet needed), or by hand: download "
                f"{BRAIN_TUMOUR_URL} and untar it into {root} (set $DIMEDIA_DATA to use another folder)."
            )
        _download_atomically(
            root,
            task,
            lambda tmp: DecathlonDataset(tmp, task, "training", download=True, cache_rate=0.0, progress=False),
        )
    dataset = DecathlonDataset(
        root,
        task,
        section,
        download=False,
        seed=seed,
        transform=LoadImaged(["image", "label"]),
        cache_rate=0.0,
        progress=False,
    )
    images, masks = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        volume = torch.as_tensor(np.asarray(item["image"]), dtype=torch.float32)  # (X, Y, Z, 4)
        label = torch.as_tensor(np.asarray(item["label"]), dtype=torch.float32)  # (X, Y, Z)
        if volume.ndim != 4 or volume.shape[-1] != 4 or label.shape != volume.shape[:3]:
            raise ValueError(
                f"{task} case {i}: expected image (X, Y, Z, 4) and label (X, Y, Z), got "
                f"{tuple(volume.shape)} and {tuple(label.shape)}"
            )
        channel = volume[..., modality]
        brain = (channel > 0).flatten(0, 1).any(0).nonzero().flatten()  # axial positions with brain
        if brain.numel() == 0:
            continue
        picks = torch.linspace(int(brain.min()), int(brain.max()), slices_per_volume).round().long().unique()
        lo, hi = channel[channel > 0].min(), channel.max()
        for z in picks.tolist():
            images.append(((_resize(channel[..., z], size) - lo) / (hi - lo).clamp_min(1e-8) * 2 - 1).clamp(-1, 1))
            masks.append((_resize(label[..., z], size) > 0.5).float())
    if not images:
        raise DatasetUnavailableError(f"{task} in {root}: no case with brain voxels in section {section!r}")
    images, masks = torch.stack(images)[:, None], torch.stack(masks)[:, None]
    return images, masks, (masks.flatten(1).amax(1) > 0).long()


def load_dataset(
    name: str,
    *,
    size: int = 32,
    n: int | None = None,
    root=None,
    download: bool = False,
    seed: int = 0,
    return_masks: bool = False,
):
    """Images ``(N, 1, size, size)`` in ``[-1, 1]`` and labels (or ``None``) of a dataset by name: ``"mni152"``
    (offline, the default of the course), ``"mni152-levels"`` (offline, two classes, :data:`MNI152_LEVELS`),
    ``"mni152-3d"`` (offline, volumes ``(N, 1, size, size, size)``), ``"mednist"`` (class labels) or
    ``"decathlon-brain"`` (1 = tumour in
    the slice). ``n`` keeps the first ``n``. ``return_masks=True`` adds the lesion masks ``(N, 1, size, size)``
    as a third value (the tumour masks of ``"decathlon-brain"``; ``None`` for the datasets without masks)."""
    masks = None
    if name == "mni152":
        from dimedia_course.data.brain import mni152_slices

        images, labels = mni152_slices(n=n or 256, size=size, seed=seed), None
    elif name == "mni152-levels":
        from dimedia_course.data.brain import mni152_slices

        per_class = (n or 256) // len(MNI152_LEVELS) + 1
        parts = [
            mni152_slices(n=per_class, size=size, slice_range=r, seed=seed + k)
            for k, (_, r) in enumerate(MNI152_LEVELS)
        ]
        labels = torch.arange(len(parts)).repeat_interleave(per_class)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))  # classes mixed
        images, labels = torch.cat(parts)[order], labels[order]
    elif name == "mni152-3d":
        from dimedia_course.data.brain import mni152_volumes

        images, labels = mni152_volumes(n=n or 64, size=size, seed=seed), None
    elif name == "mednist":
        images, labels, _ = mednist(root, size=size, download=download, seed=seed)
    elif name == "decathlon-brain":
        images, masks, labels = decathlon_brain_slices(root, size=size, download=download, seed=seed)
    else:
        raise ValueError(f"name: unknown dataset {name!r}; expected one of {DATASETS}")
    if n is not None:
        images = images[: check_positive_int(n, "n")]
        labels = None if labels is None else labels[:n]
        masks = None if masks is None else masks[:n]
    return (images, labels, masks) if return_masks else (images, labels)
