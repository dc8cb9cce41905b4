"""Load your own medical images: NIfTI volumes, DICOM series and MedNIST-style class folders.

Everything returns float32 tensors in the course convention (images ``(C, H, W)`` or
``(N, 1, H, W)`` scaled to ``[-1, 1]``), and fails with an error that names the folder or the
file at fault. Nothing is downloaded: point these loaders at data you already have (e.g. the
MedNIST or Medical Segmentation Decathlon archives unpacked on disk).

Also home of two small helpers used by every data module: :func:`to_unit_range` (min-max or
window normalisation to ``[-1, 1]``) and :func:`resize_image` (pad to square, then resize).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

NIFTI_SUFFIXES = (".nii", ".nii.gz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


# ----------------------------------------------------------------------------- helpers
def to_unit_range(x, low: float | None = None, high: float | None = None) -> torch.Tensor:
    """Map intensities linearly so that ``low -> -1`` and ``high -> +1``, clipping outside.

    With ``low``/``high`` left ``None`` the image minimum/maximum are used (min-max scaling);
    a CT window is ``low = level - width/2``, ``high = level + width/2``. A constant image maps to -1.
    """
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).float()
    low = float(x.min()) if low is None else float(low)
    high = float(x.max()) if high is None else float(high)
    if high <= low:
        return torch.full_like(x, -1.0)
    return ((x - low) / (high - low)).clamp(0.0, 1.0) * 2.0 - 1.0


def resize_image(image: torch.Tensor, size: int | None, background: float = -1.0) -> torch.Tensor:
    """Pad a 2D image ``(H, W)`` or stack ``(N, C, H, W)`` to a square, then resize to ``size``.

    Padding uses ``background`` (-1 = black in the course range) so anatomy is not distorted;
    downsampling is antialiased bilinear interpolation. ``size=None`` returns the input unchanged.
    """
    if size is None:
        return image
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size must be a positive integer or None, got {size!r}")
    squeeze = image.ndim == 2
    x = image[None, None] if squeeze else image
    if x.ndim != 4:
        raise ValueError(f"image must be (H, W) or (N, C, H, W), got shape {tuple(image.shape)}")
    h, w = x.shape[-2:]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    x = F.pad(x.float(), (left, side - w - left, top, side - h - top), value=background)
    if side != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size)
    return x[0, 0] if squeeze else x


def _check_folder(folder) -> Path:
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{str(folder)!r} is not a folder")
    return folder


# ----------------------------------------------------------------------------- NIfTI
def load_nifti(path, normalize: bool = True, canonical: bool = True) -> torch.Tensor:
    """Load a NIfTI volume (``.nii`` or ``.nii.gz``) as a float32 tensor ``(X, Y, Z)``.

    Args:
        path: the file.
        normalize: min-max scale the volume to ``[-1, 1]`` (else keep scanner units).
        canonical: reorient to the closest RAS+ orientation first (nibabel ``as_closest_canonical``),
            so slice directions are the same for every file.
    """
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIfTI file {str(path)!r} does not exist")
    try:
        img = nib.load(str(path))
        if canonical:
            img = nib.as_closest_canonical(img)
        data = np.asarray(img.get_fdata(dtype=np.float32))
    except Exception as err:  # nibabel raises several exception types for broken files
        raise ValueError(f"could not read NIfTI file {str(path)!r}: {err}") from err
    if data.ndim == 4 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"NIfTI file {str(path)!r} holds a {data.ndim}D image; expected a 3D volume")
    volume = torch.from_numpy(np.ascontiguousarray(data))
    return to_unit_range(volume) if normalize else volume


def axis_index(axis) -> int:
    """The array axis of a slicing direction: ``"sagittal"`` 0, ``"coronal"`` 1, ``"axial"`` 2 (RAS volumes)."""
    names = {"sagittal": 0, "coronal": 1, "axial": 2}
    if axis in names:
        return names[axis]
    if axis in (0, 1, 2):
        return int(axis)
    raise ValueError(f"axis must be 'axial', 'coronal', 'sagittal' or 0/1/2, got {axis!r}")


def volume_slice(volume: torch.Tensor, axis, index: int) -> torch.Tensor:
    """2D slice of a RAS volume ``(X, Y, Z)`` in radiological display orientation (rows top-down)."""
    ax = axis_index(axis)
    s = volume.select(ax, index)  # remaining axes in order, e.g. (X, Y) for axial
    return torch.flip(s.T, dims=(0,))  # rows = second axis, anterior/superior at the top


class NiftiSliceDataset(Dataset):
    """2D slices from a folder of NIfTI volumes, for training 2D diffusion models.

    Each item is a ``(1, size, size)`` float32 tensor in ``[-1, 1]`` (each volume is min-max
    normalised). Slices are taken along ``axis`` within ``slice_range`` (fractions of the axis).

    Args:
        root: folder with ``.nii`` / ``.nii.gz`` files (searched non-recursively).
        axis: ``"axial"``, ``"coronal"``, ``"sagittal"`` or 0/1/2.
        size: output side length (``None`` keeps the native size; then all volumes must match).
        slice_range: ``(start, stop)`` fractions of the axis to keep, e.g. the middle 40 %.
        every: keep every ``every``-th slice.
    """

    def __init__(
        self, root, axis="axial", size: int | None = 64, slice_range: Sequence[float] = (0.3, 0.7), every: int = 1
    ):
        root = _check_folder(root)
        self.files = sorted(p for p in root.iterdir() if p.name.endswith(NIFTI_SUFFIXES))
        if not self.files:
            raise FileNotFoundError(f"no .nii or .nii.gz files in {str(root)!r}")
        lo, hi = slice_range
        if not 0.0 <= lo < hi <= 1.0:
            raise ValueError(f"slice_range must satisfy 0 <= start < stop <= 1, got {slice_range!r}")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.axis, self.size = axis_index(axis), size
        self.volumes = [load_nifti(f) for f in self.files]
        self.index = []
        for v, vol in enumerate(self.volumes):
            n = vol.shape[self.axis]
            start, stop = int(lo * n), max(int(lo * n) + 1, int(round(hi * n)))
            self.index += [(v, k) for k in range(start, min(stop, n), every)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> torch.Tensor:
        v, k = self.index[i]
        return resize_image(volume_slice(self.volumes[v], self.axis, k), self.size)[None]


# ----------------------------------------------------------------------------- DICOM
def dicom_to_array(ds) -> np.ndarray:
    """Pixel data of a pydicom dataset in physical units (``RescaleSlope * stored + RescaleIntercept``)."""
    pixels = ds.pixel_array.astype(np.float32)
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    return pixels * slope + intercept


def load_dicom_series(
    folder, size: int | None = None, window: tuple[float, float] | None = None, normalize: bool = True
) -> torch.Tensor:
    """Load a folder of single-slice DICOM files as a stack ``(N, 1, H, W)``.

    Slices are ordered by ``ImagePositionPatient`` (along the slice normal) when present, else by
    ``InstanceNumber``, else by file name. Rescale slope/intercept are applied (Hounsfield units for CT).

    Args:
        folder: the series folder (every file that pydicom can read is used; others are skipped
            only if they are not DICOM at all, a DICOM file with broken pixel data is an error).
        size: resize each slice to ``size x size`` (``None`` keeps native size).
        window: ``(level, width)`` display window; default: the whole intensity range.
        normalize: map to ``[-1, 1]`` (else return physical units).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    folder = _check_folder(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    datasets = []
    for path in files:
        try:
            datasets.append((path, pydicom.dcmread(str(path))))
        except InvalidDicomError:
            continue  # not a DICOM file (e.g. a README): skip
        except Exception as err:
            raise ValueError(f"could not read DICOM file {str(path)!r}: {err}") from err
    datasets = [(p, d) for p, d in datasets if "PixelData" in d]
    if not datasets:
        raise FileNotFoundError(f"no DICOM images in {str(folder)!r}")

    def sort_key(item):
        path, ds = item
        pos = getattr(ds, "ImagePositionPatient", None)
        ori = getattr(ds, "ImageOrientationPatient", None)
        if pos is not None and ori is not None:
            normal = np.cross(np.asarray(ori[:3], float), np.asarray(ori[3:], float))
            return (0, float(np.dot(normal, np.asarray(pos, float))), path.name)
        inst = getattr(ds, "InstanceNumber", None)
        return (1, float(inst) if inst is not None else 0.0, path.name)

    slices = []
    for path, ds in sorted(datasets, key=sort_key):
        try:
            arr = dicom_to_array(ds)
        except Exception as err:
            raise ValueError(f"could not decode pixel data of DICOM file {str(path)!r}: {err}") from err
        if arr.ndim != 2:
            raise ValueError(f"DICOM file {str(path)!r} is not a single 2D slice (shape {arr.shape})")
        slices.append(torch.from_numpy(arr))
    shapes = {tuple(s.shape) for s in slices}
    if size is None and len(shapes) > 1:
        raise ValueError(f"slices in {str(folder)!r} have different shapes {shapes}; pass size=")
    stack = torch.stack([resize_image(s, size, background=float(s.min())) for s in slices])[:, None]
    if not normalize:
        return stack
    if window is not None:
        level, width = window
        return to_unit_range(stack, level - width / 2, level + width / 2)
    return to_unit_range(stack)


# ----------------------------------------------------------------------------- MedNIST
class MedNISTFolder(Dataset):
    """A MedNIST-style folder: one sub-folder per class, each holding 2D images.

    ``root/AbdomenCT/000001.jpeg, root/Hand/...`` gives ``classes == ["AbdomenCT", "Hand", ...]``
    (sorted) and items ``(image, label)`` with ``image`` ``(1, size, size)`` in ``[-1, 1]``
    (grey-scale, min-max over the 8/16-bit range) and ``label`` the class index.

    Args:
        root: the folder.
        size: output side length (``None`` keeps native size).
        classes: restrict to these class names (in this order).
        max_per_class: keep at most this many files per class (sorted by name).
    """

    def __init__(
        self, root, size: int | None = 64, classes: Sequence[str] | None = None, max_per_class: int | None = None
    ):
        root = _check_folder(root)
        found = sorted(p.name for p in root.iterdir() if p.is_dir())
        if not found:
            raise FileNotFoundError(f"no class sub-folders in {str(root)!r}")
        if classes is None:
            classes = found
        else:
            missing = [c for c in classes if c not in found]
            if missing:
                raise ValueError(f"classes {missing} not found in {str(root)!r} (found {found})")
        self.classes = list(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.size = size
        self.samples: list[tuple[Path, int]] = []
        for c in self.classes:
            files = sorted(p for p in (root / c).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if max_per_class is not None:
                files = files[:max_per_class]
            self.samples += [(f, self.class_to_idx[c]) for f in files]
        if not self.samples:
            raise FileNotFoundError(
                f"no image files ({', '.join(IMAGE_SUFFIXES)}) in the class folders of {str(root)!r}"
            )

    def __len__(self) -> int:
        return len(self.samples)

    @staticmethod
    def read_image(path) -> torch.Tensor:
        """Read one image file as a grey-scale ``(H, W)`` float tensor in ``[-1, 1]``."""
        from PIL import Image

        try:
            with Image.open(path) as im:
                im = im.convert("I") if im.mode.startswith("I;16") or im.mode == "I" else im.convert("L")
                arr = np.asarray(im, dtype=np.float32)
                peak = 65535.0 if im.mode == "I" else 255.0
        except Exception as err:
            raise ValueError(f"could not read image file {str(path)!r}: {err}") from err
        return to_unit_range(arr, 0.0, peak)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        return resize_image(self.read_image(path), self.size)[None], label

    def to_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images and labels as tensors ``(N, 1, size, size)`` and ``(N,)``."""
        if self.size is None:
            raise ValueError("to_tensors needs a fixed size; create the dataset with size=...")
        images, labels = zip(*(self[i] for i in range(len(self))))
        return torch.stack(images), torch.tensor(labels, dtype=torch.long)


__all__ = [
    "axis_index",
    "to_unit_range",
    "resize_image",
    "load_nifti",
    "volume_slice",
    "NiftiSliceDataset",
    "dicom_to_array",
    "load_dicom_series",
    "MedNISTFolder",
]
