"""Figures of the applications deck (``book/slides/applications.md``): the two classes of the CFG
data, MRI undersampling, one data-consistency step, sparse-view CT, synthetic lesions, and copies of the applications
benchmark's example figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from dimedia_course import make_generator
from dimedia_course.course.slide_figures.common import mni152_slice, save_figure

__all__ = ["figures"]


def _image_panels(images, titles, panel_size: float = 1.5, cmaps=None, vranges=None, stretch=()):
    """One row of images ``(H, W)`` with titles; per-panel colour maps and ``(vmin, vmax)`` ranges; the panels
    whose index is in ``stretch`` fill their square (a sinogram of few views)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(images), figsize=(panel_size * len(images), panel_size + 0.3))
    for i, (ax, image, title) in enumerate(zip(axes, images, titles)):
        vmin, vmax = (vranges[i] if vranges else None) or (None, None)
        ax.imshow(
            torch.as_tensor(image).detach().float().numpy(),
            cmap=(cmaps or {}).get(i, "gray"),
            vmin=vmin,
            vmax=vmax,
            interpolation="nearest",
            aspect="auto" if i in stretch else "equal",
        )
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def _mri_undersampling():
    from dimedia_course.applications.reconstruction import MRIOperator, cartesian_mask, fft2c

    x = mni152_slice()
    op = MRIOperator(cartesian_mask(64, 4, generator=make_generator(12)))
    kspace = fft2c(x.to(torch.complex64))[0, 0].abs()
    images = [x[0, 0], (kspace + 1e-3).log(), op.mask[0, 0], op.zero_filled(op(x))[0, 0]]
    titles = ["image x", "log |F x| (k-space)", "mask M (4x)", "zero-filled"]
    return _image_panels(images, titles, cmaps={1: "magma"}, vranges=[(-1, 1), None, (0, 1), (-1, 1)])


def _data_consistency():
    """One data-consistency step on a blurred estimate: the measured k-space lines are put back."""
    from dimedia_course.applications.anomaly import gaussian_smooth
    from dimedia_course.applications.reconstruction import MRIOperator, cartesian_mask

    x = mni152_slice()
    op = MRIOperator(cartesian_mask(64, 4, generator=make_generator(12)))
    estimate = gaussian_smooth(x, 1.5)  # a stand-in for the prior's clean estimate x0_hat
    projected = op.project(estimate, op(x))
    err = float((estimate - x).abs().max())
    images = [estimate[0, 0], projected[0, 0], (estimate - x).abs()[0, 0], (projected - x).abs()[0, 0]]
    titles = ["estimate (blurred x)", "after data consistency", "|error| before", "|error| after"]
    return _image_panels(images, titles, cmaps={2: "magma", 3: "magma"}, vranges=[(-1, 1), (-1, 1), (0, err), (0, err)])


def _ct_sparse_view():
    from dimedia_course.applications.reconstruction import CTOperator, fbp
    from dimedia_course.data import shepp_logan

    x = shepp_logan(64)
    sparse, dense = CTOperator(64, n_views=12), CTOperator(64, n_views=90)
    sinogram = sparse(x)
    images = [x[0, 0], sinogram[0, 0], fbp(sinogram, sparse.angles)[0, 0], fbp(dense(x), dense.angles)[0, 0]]
    titles = ["phantom", "sinogram, 12 views", "FBP, 12 views", "FBP, 90 views"]
    return _image_panels(images, titles, vranges=[(-1, 1), None, (-1, 1), (-1, 1)], stretch=(1,))


def _lesion_data():
    from dimedia_course.course import viz
    from dimedia_course.data import add_synthetic_lesions, mni152_slices

    healthy, masks = mni152_slices(n=4, size=48, seed=1, return_mask=True)
    sick, lesions = add_synthetic_lesions(healthy, radius=(3.0, 5.0), mask_region=masks, generator=make_generator(13))
    rows = {"healthy": healthy, "diseased": sick, "lesion mask": lesions * 2 - 1}
    return viz.plot_image_rows(rows, panel_size=1.2)


def _level_classes():
    from dimedia_course.course import viz
    from dimedia_course.data import MNI152_LEVELS, mni152_slices

    rows = {name: mni152_slices(n=5, size=48, slice_range=span, seed=0) for name, span in MNI152_LEVELS}
    return viz.plot_image_rows(rows, panel_size=1.2)


def figures(out: Path, applications_figures) -> list[Path]:
    """Draw the applications deck's figures into ``out`` and copy the PNGs of ``applications_figures`` (the
    applications benchmark's figures) as ``applications_<name>.png``; return the paths, drawn ones first."""
    written = [
        save_figure(_level_classes(), out / "level_classes.png"),
        save_figure(_mri_undersampling(), out / "mri_undersampling.png"),
        save_figure(_data_consistency(), out / "data_consistency.png"),
        save_figure(_ct_sparse_view(), out / "ct_sparse_view.png"),
        save_figure(_lesion_data(), out / "lesion_data.png"),
    ]
    source = Path(applications_figures) if applications_figures else None
    if source is not None and source.is_dir():
        for png in sorted(source.glob("*.png")):
            written.append(Path(shutil.copy(png, out / f"applications_{png.name}")))
    return written
