"""Real DICOM images that ship with pydicom (offline): a CT and MR slices.

pydicom bundles small test files; ``CT_small.dcm`` (a 128x128 CT slice) and ``MR_small.dcm``
(a 64x64 MR slice, also stored under several transfer syntaxes) are enough to show a real scan
going through the course's preprocessing: rescale slope/intercept to physical units
(Hounsfield units for CT, DICOM PS3.3 C.11.1), intensity windowing, normalisation to ``[-1, 1]``.
"""

from __future__ import annotations

import torch

from dimedia_course.data.loaders import dicom_to_array, resize_image, to_unit_range

#: bundled files per modality (all uncompressed or decodable without optional plugins)
TEST_FILES = {
    "CT": ("CT_small.dcm",),
    "MR": ("MR_small.dcm",),
}
#: default (level, width) windows; ``None`` = min-max of the image
DEFAULT_WINDOWS = {"CT": (40.0, 400.0), "MR": None}


def pydicom_test_file(name: str) -> str:
    """Local path of one of pydicom's bundled test files; never downloads."""
    from pydicom.data import get_testdata_file

    try:
        path = get_testdata_file(name, download=False)
    except TypeError:  # very old pydicom without the download argument
        path = get_testdata_file(name)
    if path is None:
        raise FileNotFoundError(f"pydicom test file {name!r} is not bundled with this pydicom installation")
    return str(path)


def pydicom_test_images(
    modality: str = "CT",
    size: int | None = 64,
    window: tuple[float, float] | None | str = "default",
    return_metadata: bool = False,
):
    """Bundled pydicom test slices of ``modality`` as ``(N, 1, size, size)`` in ``[-1, 1]``.

    Args:
        modality: ``"CT"`` or ``"MR"``.
        size: output side length (``None`` keeps native size).
        window: ``(level, width)``; ``"default"`` uses a soft-tissue window (40, 400) HU for CT and
            min-max scaling for MR; ``None`` forces min-max scaling.
        return_metadata: also return a list of dicts (file, modality, shape, pixel spacing,
            rescale slope/intercept) describing each image.
    """
    import pydicom

    modality = str(modality).upper()
    if modality not in TEST_FILES:
        raise ValueError(f"modality must be one of {tuple(TEST_FILES)}, got {modality!r}")
    if isinstance(window, str):
        if window != "default":
            raise ValueError(f"window must be (level, width), None or 'default', got {window!r}")
        window = DEFAULT_WINDOWS[modality]
    images, meta = [], []
    for name in TEST_FILES[modality]:
        ds = pydicom.dcmread(pydicom_test_file(name))
        hu = torch.from_numpy(dicom_to_array(ds))
        if window is None:
            img = to_unit_range(hu)
        else:
            level, width = window
            img = to_unit_range(hu, level - width / 2, level + width / 2)
        images.append(resize_image(img, size)[None])
        meta.append(
            {
                "file": name,
                "modality": str(ds.get("Modality", modality)),
                "shape": tuple(hu.shape),
                "pixel_spacing": [float(v) for v in ds.get("PixelSpacing", [])],
                "rescale_slope": float(ds.get("RescaleSlope", 1.0) or 1.0),
                "rescale_intercept": float(ds.get("RescaleIntercept", 0.0) or 0.0),
                "window": window,
            }
        )
    stack = torch.stack(images).clamp(-1, 1).contiguous()
    return (stack, meta) if return_metadata else stack


__all__ = ["pydicom_test_images", "pydicom_test_file", "TEST_FILES"]
