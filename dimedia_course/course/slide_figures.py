"""Figures of the reveal.js slide decks, drawn by the package when the course is built.

``write_slide_figures(out_dir)`` writes small PNGs (a few seconds on a CPU, no training) into a git-ignored folder
next to the decks (``book/slides/_figures``): noise schedules, the forward process on brain slices, DDPM vs DDIM
trajectories, classifier-free guidance and rectified-flow paths with the exact toy models, the noisy marginals,
score fields and a Langevin chain of the exact toy mixtures, and copies of the applications benchmark's example
figures.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

__all__ = ["write_slide_figures"]


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _noisy_marginals(mixture, alphas_cumprod):
    """Exact densities of q(x_t) for a 1D mixture (``GaussianMixture.log_joint``: variance a^2 s^2 + 1 - alphabar)."""
    import matplotlib.pyplot as plt

    x = torch.linspace(-4, 4, 400, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(8, 3))
    for t in (0, 100, 250, 500, 999):
        ab = torch.as_tensor(alphas_cumprod[t], dtype=torch.float64)
        density = torch.logsumexp(mixture.log_joint(x[:, None], ab.sqrt(), 1 - ab), dim=1).exp()
        ax.plot(x.numpy(), density.numpy(), label=f"t = {t}")
    ax.set_xlabel("x_t")
    ax.set_ylabel("density q(x_t)")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("marginals of the forward process (linear schedule, exact)")
    return fig


def _score_fields(alphas_cumprod):
    """The exact score of a 2D two-component mixture at three noise levels (arrows) over its density."""
    import matplotlib.pyplot as plt

    from dimedia_course.toy import GaussianMixture

    mix = GaussianMixture([[-1.5, 0.0], [1.5, 0.0]], std=0.4)
    g = torch.linspace(-3, 3, 15, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.3), sharex=True, sharey=True)
    for ax, t in zip(axes, (0, 200, 600)):
        s = mix.score_vp(pts, alphas_cumprod[t])
        s = s / (1 + s.norm(dim=1, keepdim=True))  # bounded arrows: direction and relative size
        ax.quiver(pts[:, 0], pts[:, 1], s[:, 0], s[:, 1], color="C0", angles="xy", scale_units="xy", scale=2.5)
        ax.set_title(f"score of q(x_t), t = {t}")
        ax.set_aspect("equal")
    return fig


def _langevin(mixture):
    """Langevin dynamics with the exact score of a slightly noised 1D mixture: a histogram against the density."""
    import matplotlib.pyplot as plt

    from dimedia_course import make_generator

    g = make_generator(3)
    noise_var, eta = 0.05, 0.02
    x = 4 * torch.randn(1000, 1, generator=g, dtype=torch.float64)
    for _ in range(200):
        z = torch.randn(x.shape, generator=g, dtype=x.dtype)
        x = x + 0.5 * eta * mixture.score(x, 1.0, noise_var) + eta**0.5 * z
    grid = torch.linspace(-3.5, 3.5, 400, dtype=torch.float64)
    dens = torch.logsumexp(mixture.log_joint(grid[:, None], 1.0, noise_var), dim=1).exp()
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.hist(x[:, 0].numpy(), bins=80, range=(-3.5, 3.5), density=True, alpha=0.5, label="200 Langevin steps")
    ax.plot(grid.numpy(), dens.numpy(), "k", lw=1, label="target density")
    ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("x")
    ax.set_title("Langevin dynamics from N(0, 16) with the exact score")
    return fig


def write_slide_figures(out_dir, applications_figures=None) -> list[Path]:
    """Draw the slide figures into ``out_dir`` and return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dimedia_course import make_generator
    from dimedia_course.course import viz
    from dimedia_course.data import mni152_slices
    from dimedia_course.sampling import sample
    from dimedia_course.schedulers import DDIMScheduler, DDPMScheduler, RFlowScheduler
    from dimedia_course.schedules import make_beta_schedule
    from dimedia_course.toy import GaussianMixture, ToyDenoiser, ToyFlowModel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    schedules = {"linear": make_beta_schedule("linear", 1000), "cosine": make_beta_schedule("cosine", 1000)}
    written.append(_save(viz.plot_schedules(schedules), out / "schedules.png"))
    slices = mni152_slices(n=3, size=64, seed=0)
    ddpm = DDPMScheduler(1000)
    fig = viz.plot_forward_process(
        slices, ddpm.alphas_cumprod, [0, 100, 250, 500, 750, 999], generator=make_generator(1)
    )
    written.append(_save(fig, out / "forward_process.png"))
    data = mni152_slices(n=24, size=32, axis="all", slice_range=(0, 1), min_brain_fraction=0.2, seed=0)
    written.append(_save(viz.show_images(data, nrow=8), out / "training_slices.png"))

    mixture = GaussianMixture([[-2.0], [0.0], [2.0]], std=0.15, weights=[0.3, 0.2, 0.5])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
    for ax, (name, sched, steps) in zip(
        axes,
        [
            ("DDPM, 1000 steps", DDPMScheduler(1000, clip_sample=False), 1000),
            ("DDIM, 50 steps", DDIMScheduler(1000, clip_sample=False), 50),
        ],
    ):
        model = ToyDenoiser(mixture, sched.alphas_cumprod)
        _, traj = sample(
            model, sched, (30, 1, 1, 1), num_inference_steps=steps, generator=make_generator(0), return_trajectory=True
        )
        traj = torch.stack(traj)[:, :, 0, 0, 0]
        ax.plot(torch.linspace(1, 0, traj.shape[0]).numpy(), traj.numpy(), lw=0.7)
        ax.invert_xaxis()
        ax.set_title(name)
        ax.set_xlabel("t / T (noise on the left, data on the right)")
    written.append(_save(fig, out / "trajectories.png"))

    classes = GaussianMixture([[-1.0, 0.0], [1.0, 0.0]], std=0.6)
    sched = DDIMScheduler(1000, clip_sample=False)
    model = ToyDenoiser(classes, sched.alphas_cumprod)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), sharex=True, sharey=True)
    for ax, s in zip(axes, (0.0, 1.0, 4.0)):
        x = sample(
            model,
            sched,
            (600, 2, 1, 1),
            y=torch.ones(600, dtype=torch.long),
            guidance_scale=s,
            num_inference_steps=50,
            generator=make_generator(0),
        ).view(-1, 2)
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.set_title(f"guidance scale s = {s:g}")
        ax.set_xlim(-3.5, 4.5)
        ax.set_ylim(-2.5, 2.5)
    written.append(_save(fig, out / "cfg.png"))

    # rectified flow: straight conditional paths vs the exact marginal flow (Euler, the one sampling loop)
    flow_model = ToyFlowModel(mixture)
    g = make_generator(1)
    x0, eps = mixture.sample(30, generator=g).double(), torch.randn(30, 1, generator=g, dtype=torch.float64)
    s_grid = torch.linspace(0, 1, 51, dtype=torch.float64)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
    axes[0].plot(s_grid.numpy(), torch.stack([(1 - s) * x0 + s * eps for s in s_grid])[:, :, 0].numpy(), lw=0.7)
    axes[0].set_title("conditional paths (cross)")
    _, traj = sample(
        flow_model,
        RFlowScheduler(use_discrete_timesteps=False),
        (30, 1, 1, 1),
        num_inference_steps=100,
        generator=make_generator(2),
        return_trajectory=True,
    )
    traj = torch.stack(traj)[:, :, 0, 0, 0]
    axes[1].plot(torch.linspace(1, 0, traj.shape[0]).numpy(), traj.numpy(), lw=0.7)
    axes[1].set_title("marginal flow, exact velocity")
    for ax in axes:
        ax.invert_xaxis()
        ax.set_xlabel("s (noise on the left, data on the right)")
    written.append(_save(fig, out / "flow_paths.png"))

    written.append(_save(_noisy_marginals(mixture, ddpm.alphas_cumprod), out / "noisy_marginals.png"))
    written.append(_save(_score_fields(ddpm.alphas_cumprod), out / "score_field.png"))
    written.append(_save(_langevin(mixture), out / "langevin.png"))

    source = Path(applications_figures) if applications_figures else None
    if source is not None and source.is_dir():
        for png in sorted(source.glob("*.png")):
            written.append(Path(shutil.copy(png, out / f"applications_{png.name}")))
    return written
