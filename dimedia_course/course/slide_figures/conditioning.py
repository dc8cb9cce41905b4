"""Figures of the conditioning deck (``book/slides/conditioning.md``): class-conditional samples, the
classifier-guidance gradient, classifier-free guidance, data consistency and posterior sampling on a 2D mixture, the
guidance record of the shipped checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from dimedia_course.course.slide_figures.common import (
    checkpoint_records,
    ddim_scheduler,
    ddpm_scheduler,
    save_figure,
    toy_samples,
)
from dimedia_course.toy import GaussianMixture

__all__ = ["figures"]


def _square_mixture() -> GaussianMixture:
    """Four 2D components on the corners of a square (conditioning figures)."""
    return GaussianMixture([[-1.5, -1.5], [1.5, 1.5], [1.5, -1.5], [-1.5, 1.5]], std=0.4)


def _scatter_panels(panels, size: float = 2.3, lim: float = 3.2):
    """Side-by-side 2D scatter plots: ``panels`` is a list of ``(title, [(points, colour, label), ...])``."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size), sharex=True, sharey=True)
    for ax, (title, layers) in zip(axes, panels):
        for x, colour, label in layers:
            ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.5, color=colour, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    fig.tight_layout()
    return fig, axes


def _class_conditional():
    mixture = GaussianMixture([[-1.5, 0.5], [1.5, 1.0], [0.3, -1.5]], std=0.45, weights=[0.5, 0.3, 0.2])
    sched = ddim_scheduler()
    uncond = toy_samples(mixture, sched, 600, 50, seed=13)
    y = torch.arange(3).repeat_interleave(200)
    cond = toy_samples(mixture, sched, 600, 50, seed=14, y=y)
    layers = [(cond[y == k], f"C{k}", f"y = {k}") for k in range(3)]
    fig, axes = _scatter_panels([(r"$p(\mathbf{x})$", [(uncond, "0.4", None)]), (r"$p(\mathbf{x} \mid y)$", layers)])
    axes[1].legend(frameon=False, fontsize=8, markerscale=4, loc="lower right")
    return fig


def _classifier_gradient():
    """grad log p(y = 1 | x_t) of the exact noisy classifier (arrows) over p(y = 1 | x_t) (shade)."""
    import matplotlib.pyplot as plt

    from dimedia_course.guidance import classifier_gradient
    from dimedia_course.toy import ToyClassifier

    mixture = GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], std=0.6)
    sched = ddpm_scheduler()
    classifier = ToyClassifier(mixture, sched.alphas_cumprod)
    fine = torch.linspace(-3, 3, 61)
    fx, fy = torch.meshgrid(fine, fine, indexing="xy")
    coarse = torch.linspace(-2.7, 2.7, 13)
    cx, cy = torch.meshgrid(coarse, coarse, indexing="xy")
    pts = torch.stack([cx.flatten(), cy.flatten()], 1)
    fig, axes = plt.subplots(1, 2, figsize=(5, 2.6), sharey=True)
    for ax, t in zip(axes, (100, 500)):
        prob = torch.softmax(classifier(torch.stack([fx.flatten(), fy.flatten()], 1), t), 1)[:, 1].view(61, 61)
        ax.imshow(prob.numpy(), origin="lower", extent=(-3, 3, -3, 3), cmap="RdBu", vmin=0, vmax=1, alpha=0.6)
        grad = classifier_gradient(classifier, pts, t, torch.ones(len(pts), dtype=torch.long))
        grad = grad / (1 + grad.norm(dim=1, keepdim=True))
        ax.quiver(pts[:, 0], pts[:, 1], grad[:, 0], grad[:, 1], angles="xy", scale_units="xy", scale=1.6)
        ax.set_title(rf"t = {t}, shade: $p(y = 1 \mid \mathbf{{x}}_t)$", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def _cfg():
    """Classifier-free guidance towards class 1 on a 2D two-class mixture at three scales."""
    import matplotlib.pyplot as plt

    classes = GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], std=0.6)
    sched = ddim_scheduler()
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), sharex=True, sharey=True)
    for ax, s in zip(axes, (0.0, 1.0, 4.0)):
        x = toy_samples(classes, sched, 600, 50, seed=0, y=torch.ones(600, dtype=torch.long), guidance_scale=s)
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.set_title(f"guidance scale s = {s:g}")
        ax.set_xlim(-3.5, 4.5)
        ax.set_ylim(-2.5, 2.5)
    return fig


def _data_consistency_toy():
    """Inpainting a 2D mixture: x_1 = 1.5 is measured and imposed on every clean estimate; x_2 is generated."""
    mixture, sched = _square_mixture(), ddim_scheduler()
    measured = 1.5

    def keep_measured(x0, t):
        x0 = x0.clone()
        x0[:, 0] = measured
        return x0

    prior = toy_samples(mixture, sched, 600, 50, seed=15)
    posterior = toy_samples(mixture, sched, 600, 50, seed=16, x0_correction=keep_measured)
    fig, axes = _scatter_panels(
        [
            ("prior samples", [(prior, "0.5", None)]),
            (r"measured $x_1 = 1.5$", [(prior, "0.85", None), (posterior, "C3", None)]),
        ]
    )
    axes[1].axvline(measured, color="C3", ls=":", lw=0.8)
    return fig


def _dps_toy():
    """Diffusion posterior sampling on a 2D mixture with the measurement y = x_1 + x_2 = 0."""
    mixture, sched = _square_mixture(), ddim_scheduler()

    def residual(x0):
        return x0.flatten(1).sum(1).abs().sum()  # ||y - A(x0_hat)|| per sample, y = 0, A = x_1 + x_2

    prior = toy_samples(mixture, sched, 600, 100, seed=15)
    posterior = toy_samples(mixture, sched, 600, 100, seed=17, likelihood=residual, dps_scale=0.15)
    fig, axes = _scatter_panels(
        [
            ("prior samples", [(prior, "0.5", None)]),
            (r"DPS, measured $x_1 + x_2 = 0$", [(prior, "0.85", None), (posterior, "C3", None)]),
        ]
    )
    axes[1].plot([-3, 3], [3, -3], color="C3", ls=":", lw=0.8)
    return fig


def _cfg_record():
    """The guidance record of the shipped class-conditional checkpoint (cpu_cfg_levels.json)."""
    import matplotlib.pyplot as plt

    metrics = checkpoint_records()["cpu_cfg_levels"]["metrics"]
    keys = sorted(metrics, key=lambda k: float(k.split("_s")[1]))
    scales = [k.split("_s")[1] for k in keys]
    fig, axes = plt.subplots(1, 2, figsize=(6.5, 2.4))
    axes[0].bar(scales, [metrics[k]["judge_accuracy"] for k in keys], color="C0")
    axes[0].axhline(metrics[keys[0]]["judge_accuracy_real"], color="k", ls="--", lw=1, label="real slices")
    axes[0].set_title("samples in the requested class", fontsize=10)
    axes[0].set_ylim(0, 1.05)
    axes[0].legend(frameon=False, fontsize=8, loc="lower right")
    axes[1].bar(scales, [metrics[k]["mmd_ratio"] for k in keys], color="C1")
    axes[1].axhline(1.0, color="k", ls="--", lw=1, label="real-vs-real floor")
    axes[1].set_yscale("log")
    axes[1].set_title(r"MMD$^2$ / floor (lower is better)", fontsize=10)
    axes[1].legend(frameon=False, fontsize=8)
    for ax in axes:
        ax.set_xlabel(f"guidance scale s ({metrics[keys[0]]['n']} samples, DDIM 50)")
    fig.tight_layout()
    return fig


def figures(out: Path) -> list[Path]:
    """Draw the conditioning deck's figures into ``out`` and return their paths."""
    return [
        save_figure(_cfg(), out / "cfg.png"),
        save_figure(_class_conditional(), out / "class_conditional.png"),
        save_figure(_classifier_gradient(), out / "classifier_gradient.png"),
        save_figure(_data_consistency_toy(), out / "data_consistency_toy.png"),
        save_figure(_dps_toy(), out / "dps_toy.png"),
        save_figure(_cfg_record(), out / "cfg_record.png"),
    ]
