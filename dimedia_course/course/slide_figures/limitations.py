"""Figures of the limitations deck (``book/slides/limitations.md``): compute, a 3D volume as a stack of
slices, memorisation and quality against the real-vs-real floor."""

from __future__ import annotations

from pathlib import Path

import torch

from dimedia_course.course.slide_figures.common import checkpoint_records, save_figure

__all__ = ["figures"]


_SHORT_NAMES = {
    "cpu_ddpm_axial": "2D DDPM",
    "cpu_rflow_axial": "2D flow",
    "cpu_cfg_levels": "2D CFG",
    "cpu_ddpm3d": "3D DDPM",
}


def _record_rows():
    """``(label, metrics)`` of every measured sampler of every shipped checkpoint."""
    return [
        (f"{_SHORT_NAMES.get(name, name)}: {key.replace('_', ' ')}", m)
        for name, record in checkpoint_records().items()
        for key, m in record["metrics"].items()
    ]


def _compute_record():
    import matplotlib.pyplot as plt

    records = checkpoint_records()
    names = list(records)
    threads = [records[n]["machine"].split(", ")[1].split(" CPU")[0] for n in names]
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.4))
    axes[0].barh(
        [f"{_SHORT_NAMES.get(n, n)} ({k} thr.)" for n, k in zip(names, threads)],
        [records[n]["training_minutes"] for n in names],
        color="C0",
    )
    axes[0].set_xlabel("training minutes (CPU)")
    rows = [
        ("2D, 32 x 32", "cpu_ddpm_axial", "ddim50"),
        ("2D + guidance", "cpu_cfg_levels", "ddim50_s1"),
        ("3D, 24 x 24 x 24", "cpu_ddpm3d", "ddim50"),
    ]
    metrics = [records[n]["metrics"][k] for _, n, k in rows]
    labels = [f"{label} ({threads[names.index(n)]} thr.)" for label, n, _ in rows]
    axes[1].barh(labels, [m["sampling_seconds"] / m["n"] for m in metrics], color="C1")
    axes[1].set_xlabel("seconds per sample, DDIM 50 steps")
    for ax in axes:
        ax.invert_yaxis()
    fig.tight_layout()
    return fig


def _volume_stack():
    from dimedia_course.course import viz
    from dimedia_course.data import mni152_volume
    from dimedia_course.data.loaders import volume_slice

    volume = mni152_volume(2)
    depth = volume.shape[2]
    index = torch.linspace(0.2 * depth, 0.7 * depth, 6).round().long().tolist()
    images = torch.stack([volume_slice(volume, "axial", k) for k in index])[:, None]
    x, y, z = volume.shape
    title = f"one 2 mm MNI152 volume: {x} x {y} x {z} = {volume.numel() / 1e6:.1f} M voxels"
    return viz.show_images(images, nrow=6, titles=[f"axial {k}" for k in index], suptitle=title, panel_size=1.3)


def _record_ratios(panels, figsize):
    """Horizontal bars of ratios to the real-vs-real floor, one panel per ``(title, ratio(metrics), log)``."""
    import matplotlib.pyplot as plt

    rows = _record_rows()
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, sharey=True, squeeze=False)
    for ax, (title, ratio, log) in zip(axes[0], panels):
        bars = ax.barh([label for label, _ in rows], [ratio(m) for _, m in rows], color="C0")
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
        ax.axvline(1.0, color="k", ls="--", lw=1)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(title)
    axes[0, 0].invert_yaxis()
    fig.tight_layout()
    return fig


def figures(out: Path) -> list[Path]:
    """Draw the limitations deck's figures into ``out`` and return their paths."""
    memorisation = _record_ratios(
        [
            (
                "NN distance to training / real floor (1 = as close as real images)",
                lambda m: m["nn_distance"] / m["nn_distance_floor"],
                False,
            )
        ],
        (6, 2.8),
    )
    quality = _record_ratios(
        [
            (r"MMD$^2$ / floor", lambda m: m["mmd_ratio"], True),
            ("precision / floor", lambda m: m["precision"] / m["precision_floor"], False),
        ],
        (8, 2.8),
    )
    return [
        save_figure(_compute_record(), out / "compute_record.png"),
        save_figure(_volume_stack(), out / "volume_stack.png"),
        save_figure(memorisation, out / "memorisation_record.png"),
        save_figure(quality, out / "quality_record.png"),
    ]
