"""Figures of the architectures deck (``book/slides/architectures.md``): the sinusoidal timestep
embedding, a slice cut into transformer patches, sampling cost records."""

from __future__ import annotations

from pathlib import Path

import torch

from dimedia_course.course.slide_figures.common import checkpoint_records, mni152_slice, save_figure

__all__ = ["figures"]


def _timestep_embedding():
    import matplotlib.pyplot as plt

    from dimedia_course.nn.embeddings import timestep_embedding

    emb = timestep_embedding(torch.arange(1000), 64)
    fig, ax = plt.subplots(figsize=(6, 2.2))
    ax.imshow(emb.T.numpy(), aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xlabel("timestep t")
    ax.set_ylabel("feature (sin | cos)")
    ax.set_title("sinusoidal embedding of t, 64 features", fontsize=10)
    return fig


def _patches():
    """A slice cut into 8 x 8 patches and the patches as a sequence of tokens."""
    import matplotlib.pyplot as plt

    from dimedia_course.course import viz

    x = mni152_slice()[0, 0]
    p = 8
    tokens = x.unfold(0, p, p).unfold(1, p, p).reshape(-1, 1, p, p)  # (64, 1, 8, 8), row-major order
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.4), gridspec_kw={"width_ratios": [1, 2.6]})
    axes[0].imshow(x.numpy(), cmap="gray", vmin=-1, vmax=1)
    for k in range(1, x.shape[0] // p):
        axes[0].axhline(k * p - 0.5, color="C1", lw=0.8)
        axes[0].axvline(k * p - 0.5, color="C1", lw=0.8)
    axes[0].set_axis_off()
    axes[0].set_title("64 x 64 slice, 8 x 8 patches", fontsize=10)
    viz.show_images(tokens, nrow=16, ax=axes[1])
    axes[1].set_title("64 tokens, in reading order", fontsize=10)
    fig.tight_layout()
    return fig


def _sampling_cost_record():
    """Seconds per sample and quality of the shipped 2D checkpoints, per sampler (checkpoint records)."""
    import matplotlib.pyplot as plt

    records = checkpoint_records()
    rows = [
        ("DDPM, 1000 calls", "cpu_ddpm_axial", "ddpm1000"),
        ("DDIM, 50", "cpu_ddpm_axial", "ddim50"),
        ("flow Euler, 50", "cpu_rflow_axial", "flow50"),
        ("flow Euler, 25", "cpu_rflow_axial", "flow25"),
        ("flow Euler, 10", "cpu_rflow_axial", "flow10"),
    ]
    metrics = [records[name]["metrics"][key] for _, name, key in rows]
    labels = [label for label, _, _ in rows]
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.4), sharey=True)
    axes[0].barh(labels, [m["sampling_seconds"] / m["n"] for m in metrics], color="C0")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("seconds per sample (CPU)")
    axes[1].barh(labels, [m["mmd_ratio"] for m in metrics], color="C1")
    axes[1].axvline(1.0, color="k", ls="--", lw=1)
    axes[1].set_xlabel(r"MMD$^2$ / real-vs-real floor")
    axes[0].invert_yaxis()
    fig.tight_layout()
    return fig


def figures(out: Path) -> list[Path]:
    """Draw the architectures deck's figures into ``out`` and return their paths."""
    return [
        save_figure(_timestep_embedding(), out / "timestep_embedding.png"),
        save_figure(_patches(), out / "patches.png"),
        save_figure(_sampling_cost_record(), out / "sampling_cost_record.png"),
    ]
