"""Figures of the intro deck (``book/slides/intro.md``): the ISBI 2024 schedule, three views of the MNI152
template, data vs model samples of a 2D mixture, a schematic of the generative families, explicit density vs samples,
a 1D flow as a change of variables."""

from __future__ import annotations

from pathlib import Path

import torch

from dimedia_course import make_generator
from dimedia_course.course.slide_figures.common import (
    ddim_scheduler,
    grid_1d,
    mixture_1d,
    mixture_density,
    mni152_slice,
    ring_mixture,
    save_figure,
    toy_samples,
)

__all__ = ["figures"]


def _schedule_timeline():
    """The ISBI 2024 tutorial as a bar of its sessions (lengths from the schedule data; no clock times)."""
    import textwrap

    import matplotlib.pyplot as plt

    from dimedia_course.course.schedule import load_schedule, session_minutes

    edition = next(e for e in load_schedule()["editions"] if e["id"] == "isbi2024")
    colours = {"talk": "#9ecae1", "demo": "#a1d99b", "break": "#d9d9d9", "discussion": "#fdae6b"}
    fig, ax = plt.subplots(figsize=(8, 1.5))
    start = 0
    for session in edition["sessions"]:
        minutes = session_minutes(session)
        ax.barh(0, minutes, left=start, color=colours[session["kind"]], edgecolor="white", linewidth=2)
        label = textwrap.fill(session["title"].split(": ")[-1], 12, break_long_words=False)
        ax.text(start + minutes / 2, 0, f"{label}\n{minutes} min", ha="center", va="center", fontsize=8)
        start += minutes
    ax.set_xlim(0, start)
    ax.set_yticks([])
    ax.set_xticks(range(0, start + 1, 30))
    ax.set_xlabel("minutes from the start of the afternoon")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return fig


def _mni152_views():
    from dimedia_course.course import viz

    views = ("axial", "coronal", "sagittal")
    images = torch.cat([mni152_slice(96, axis) for axis in views])
    return viz.show_images(images, nrow=3, titles=[f"{v} slice" for v in views], panel_size=1.7)


def _learning_a_distribution():
    """Samples of a 2D mixture next to samples of the reverse process with its exact denoiser."""
    import matplotlib.pyplot as plt

    mixture = ring_mixture()
    data = mixture.sample(500, generator=make_generator(0))
    model = toy_samples(mixture, ddim_scheduler(), 500, 50, seed=1)
    fig, axes = plt.subplots(1, 2, figsize=(5, 2.6), sharex=True, sharey=True)
    for ax, x, title, colour in (
        (axes[0], data, r"data: $\mathbf{x}^{(i)} \sim p_\mathrm{data}$", "C0"),
        (axes[1], model, r"model: $\mathbf{x} \sim p_\theta$ (reverse process)", "C1"),
    ):
        ax.scatter(x[:, 0], x[:, 1], s=3, alpha=0.5, color=colour)
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
        ax.set_xlim(-3.2, 3.2)
        ax.set_ylim(-3.2, 3.2)
    fig.tight_layout()
    return fig


def _generative_families():
    """A schematic: what each family maps to what, and which arrows are learned."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 2.6))
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.6, 3.6)
    ax.set_axis_off()
    box = {"boxstyle": "round,pad=0.3", "fc": "#deebf7", "ec": "#3182bd"}
    rows = [
        (
            "VAE",
            [r"$\mathbf{x}$", r"$\mathbf{z}$", r"$\hat{\mathbf{x}}$"],
            ["encoder $q_\\phi$", "decoder $p_\\theta$"],
            None,
        ),
        ("GAN", [r"$\mathbf{z}$", r"$G(\mathbf{z})$", "real / fake"], ["generator $G$", "discriminator $D$"], None),
        ("Flow", [r"$\mathbf{x}$", r"$\mathbf{z}$"], ["invertible $f_\\theta$"], ["$f_\\theta^{-1}$"]),
        (
            "Diffusion",
            [r"$\mathbf{x}_0$", r"$\mathbf{x}_1$", r"$\cdots$", r"$\mathbf{x}_T$"],
            ["add noise (fixed)", "", ""],
            ["denoise (learned)", "", ""],
        ),
    ]
    for y, (name, nodes, forward, backward) in zip((3.0, 2.0, 1.0, 0.0), rows):
        ax.text(0.05, y, name, fontsize=11, fontweight="bold", va="center")
        xs = np.linspace(2.4, 9.0, len(nodes)) if len(nodes) > 2 else np.array([3.5, 7.5])
        for x, label in zip(xs, nodes):
            ax.text(x, y, label, ha="center", va="center", fontsize=11, bbox=box)
        for i, label in enumerate(forward):
            ax.annotate(
                "",
                xy=(xs[i + 1] - 0.55, y + 0.12),
                xytext=(xs[i] + 0.55, y + 0.12),
                arrowprops={"arrowstyle": "->", "color": "0.3"},
            )
            ax.text((xs[i] + xs[i + 1]) / 2, y + 0.28, label, ha="center", fontsize=8)
        for i, label in enumerate(backward or []):
            ax.annotate(
                "",
                xy=(xs[i] + 0.55, y - 0.14),
                xytext=(xs[i + 1] - 0.55, y - 0.14),
                arrowprops={"arrowstyle": "->", "color": "C3"},
            )
            ax.text((xs[i] + xs[i + 1]) / 2, y - 0.45, label, ha="center", fontsize=8, color="C3")
    return fig


def _explicit_implicit():
    """Left: the model's density can score any point; right: an implicit model only gives samples."""
    import matplotlib.pyplot as plt

    mixture = mixture_1d()
    x = grid_1d()
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.6), sharex=True)
    axes[0].plot(x[:, 0], mixture_density(mixture, x), "k", lw=1)
    for point, colour in ((2.0, "C2"), (1.0, "C3")):
        logp = torch.logsumexp(mixture.log_joint(torch.tensor([[point]]), 1.0, 0.0), dim=1).item()
        axes[0].axvline(point, color=colour, ls="--", lw=1)
        left = point < 2.0
        axes[0].text(
            point + (-0.1 if left else 0.1),
            2.0 if left else 1.6,
            f"log p = {logp:.1f}",
            color=colour,
            fontsize=9,
            ha="right" if left else "left",
        )
    axes[0].set_ylim(0, 2.6)
    axes[0].set_title(r"explicit: $\log p_\theta(\mathbf{x})$ at any $\mathbf{x}$", fontsize=10)
    samples = mixture.sample(2000, generator=make_generator(2))[:, 0]
    axes[1].hist(samples.numpy(), bins=70, range=(-3.5, 3.5), color="C1", alpha=0.7, histtype="stepfilled")
    axes[1].set_title(r"implicit: only samples $\mathbf{x} = G_\theta(\mathbf{z})$", fontsize=10)
    axes[1].set_yticks([])
    for ax in axes:
        ax.set_xlabel("x")
    fig.tight_layout()
    return fig


def _change_of_variables():
    """The exact flow of the 1D mixture as a normalising flow: a monotone map of N(0, 1) onto the data."""
    import matplotlib.pyplot as plt

    from dimedia_course.sampling import sample
    from dimedia_course.schedulers import RFlowScheduler
    from dimedia_course.toy import ToyFlowModel

    mixture = mixture_1d()
    z_grid = torch.linspace(-3, 3, 121)
    z = torch.cat([z_grid, torch.randn(3000, generator=make_generator(4))]).view(-1, 1, 1, 1)
    x = sample(ToyFlowModel(mixture), RFlowScheduler(use_discrete_timesteps=False), x_T=z, num_inference_steps=50)
    x = x.flatten()
    fig, axes = plt.subplots(1, 2, figsize=(6.2, 2.4))
    axes[0].plot(z_grid.numpy(), x[:121].numpy(), "C0")
    axes[0].set_xlabel(r"$\mathbf{z} \sim \mathcal{N}(0, 1)$")
    axes[0].set_ylabel(r"$\mathbf{x} = f_\theta^{-1}(\mathbf{z})$")
    axes[0].set_title("an invertible, monotone map", fontsize=10)
    grid = grid_1d()
    axes[1].hist(
        x[121:].numpy(),
        bins=70,
        range=(-3.5, 3.5),
        density=True,
        color="C0",
        alpha=0.5,
        histtype="stepfilled",
        label=r"$f_\theta^{-1}(\mathbf{z})$, 3000 draws",
    )
    axes[1].plot(grid[:, 0], mixture_density(mixture, grid), "k", lw=1, label="data density")
    axes[1].set_title("pushed-forward Gaussian = data", fontsize=10)
    axes[1].set_xlabel("x")
    axes[1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def figures(out: Path) -> list[Path]:
    """Draw the intro deck's figures into ``out`` and return their paths."""
    return [
        save_figure(_schedule_timeline(), out / "isbi2024_schedule.png"),
        save_figure(_mni152_views(), out / "mni152_views.png"),
        save_figure(_learning_a_distribution(), out / "learning_a_distribution.png"),
        save_figure(_generative_families(), out / "generative_families.png"),
        save_figure(_explicit_implicit(), out / "explicit_implicit.png"),
        save_figure(_change_of_variables(), out / "change_of_variables.png"),
    ]
