"""Figures of the sampling deck (``book/slides/sampling.md``): DDPM vs DDIM paths, eta 0 vs 1, timestep
spacings, the DDIM inversion round trip, error vs steps."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from dimedia_course import make_generator
from dimedia_course.course.slide_figures.common import (
    ddim_scheduler,
    few_step_w1,
    mixture_1d,
    noise_left,
    plain_log_ticks,
    save_figure,
    toy_ddpm_run,
    toy_denoiser,
    trajectory_paths,
)

__all__ = ["figures"]


def _trajectories(mixture):
    """Thirty 1D paths of DDPM (1000 steps, from the shared run) and DDIM (50 steps) with the exact denoiser."""
    import matplotlib.pyplot as plt

    from dimedia_course.sampling import sample

    sched = ddim_scheduler()
    _, ddim = sample(
        toy_denoiser(mixture, sched),
        sched,
        (30, 1, 1, 1),
        num_inference_steps=50,
        generator=make_generator(0),
        return_trajectory=True,
    )
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
    for ax, name, traj in zip(
        axes, ("DDPM, 1000 steps", "DDIM, 50 steps"), (toy_ddpm_run()[1][:, :30], trajectory_paths(ddim))
    ):
        ax.plot(torch.linspace(1, 0, traj.shape[0]).numpy(), traj.numpy(), lw=0.7)
        ax.set_title(name)
        noise_left(ax)
    return fig


def _ddim_eta(mixture):
    """DDIM with 50 steps from the same x_T: eta = 0 (deterministic) and eta = 1 (DDPM-like noise)."""
    import matplotlib.pyplot as plt

    from dimedia_course.sampling import sample

    sched = ddim_scheduler()
    model = toy_denoiser(mixture, sched)
    x_T = torch.randn(25, 1, 1, 1, generator=make_generator(0))
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.5), sharey=True)
    for ax, eta in zip(axes, (0.0, 1.0)):
        _, traj = sample(
            model, sched, x_T=x_T, num_inference_steps=50, eta=eta, generator=make_generator(8), return_trajectory=True
        )
        ax.plot(torch.linspace(1, 0, 51).numpy(), trajectory_paths(traj).numpy(), lw=0.7)
        ax.set_title(rf"DDIM, 50 steps, $\eta = {eta:g}$", fontsize=10)
        noise_left(ax, "t / T")
    fig.tight_layout()
    return fig


def _timestep_spacing():
    """Where the network is evaluated (dots) and where each DDIM step lands (arrows), S = 4, per spacing."""
    import matplotlib.pyplot as plt

    from dimedia_course.schedulers import DDIMScheduler

    sched = DDIMScheduler(1000)
    rows = (("trailing (course)", "trailing"), ("linspace (diffusers)", "linspace"), ("leading (MONAI)", "leading"))
    fig, ax = plt.subplots(figsize=(7.5, 2.1))
    for y, (label, spacing) in enumerate(rows):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "leading" lands off the listed timesteps, which is what we show
            sched.set_timesteps(4, timestep_spacing=spacing)
        listed = sched.timesteps.tolist()
        for t in listed:
            ax.annotate(
                "",
                xy=(sched.previous_timestep(t), -y),
                xytext=(t, -y),
                arrowprops={"arrowstyle": "->", "color": "C1", "lw": 1.2},
            )
        ax.plot(listed, [-y] * len(listed), "o", color="C0", ms=7, zorder=3)
        ax.text(1080, -y, label, ha="right", va="center", fontsize=9)
    ax.set_xlim(1080, -60)
    ax.set_ylim(-2.6, 0.5)
    ax.set_yticks([])
    ax.set_xticks([999, 750, 500, 250, 0, -1], ["999", "750", "500", "250", "0", ""])
    ax.text(-1, -2.5, "clean", ha="center", fontsize=8)
    ax.set_xlabel("timestep (noise on the left): dots = network calls, arrows = DDIM steps, S = 4")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return fig


def _inversion_round_trip(mixture):
    """DDIM inversion of 1D data (10 steps) and its decoding; the round-trip error against the number of steps."""
    import matplotlib.pyplot as plt

    from dimedia_course.inversion import ddim_invert
    from dimedia_course.sampling import sample

    sched = ddim_scheduler()
    model = toy_denoiser(mixture, sched)
    x0 = mixture.sample(8, generator=make_generator(10)).view(-1, 1, 1, 1)
    codes, up = ddim_invert(model, sched, x0, num_inference_steps=10, return_trajectory=True)
    _, down = sample(model, sched, x_T=codes, num_inference_steps=10, return_trajectory=True)
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
    s = torch.linspace(1, 0, 11).numpy()
    axes[0].plot(s[::-1], trajectory_paths(up).numpy(), color="C3", ls="--", lw=1)
    axes[0].plot(s, trajectory_paths(down).numpy(), color="C0", lw=0.8)
    axes[0].plot([], [], color="C3", ls="--", label="inversion: data to noise")
    axes[0].plot([], [], color="C0", label="sampling: back to data")
    axes[0].legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1), ncol=2)
    noise_left(axes[0], "t / T (10 DDIM steps each way)")
    data = mixture.sample(300, generator=make_generator(11)).view(-1, 1, 1, 1)
    steps = (2, 5, 10, 20, 50, 100)
    errors = []
    for n in steps:
        back = sample(model, sched, x_T=ddim_invert(model, sched, data, num_inference_steps=n), num_inference_steps=n)
        errors.append((back - data).abs().mean().item())
    axes[1].loglog(steps, errors, "o-")
    axes[1].set_xlabel("DDIM steps")
    axes[1].set_title(r"round-trip error mean $|\hat{x}_0 - x_0|$", fontsize=10)
    axes[1].grid(alpha=0.3)
    plain_log_ticks(axes[1], steps, (0.02, 0.05, 0.1, 0.2, 0.5))
    fig.tight_layout()
    return fig


def _steps_error():
    """Sample error (1D W1 to the data) of DDPM and DDIM with the exact denoiser against the number of steps."""
    import matplotlib.pyplot as plt

    steps = (2, 4, 8, 16, 32, 64)
    fig, ax = plt.subplots(figsize=(5, 2.6))
    for kind, label in (("ddpm", "DDPM (stochastic)"), ("ddim", r"DDIM ($\eta = 0$)")):
        ax.loglog(steps, [few_step_w1(kind, n) for n in steps], "o-", label=label)
    ax.set_xlabel("number of steps = network calls")
    ax.set_ylabel("W1 to the data")
    ax.legend(frameon=False, fontsize=9)
    ax.grid(alpha=0.3)
    plain_log_ticks(ax, steps, (0.03, 0.1, 0.3, 1))
    return fig


def figures(out: Path) -> list[Path]:
    """Draw the sampling deck's figures into ``out`` and return their paths."""
    mixture = mixture_1d()
    return [
        save_figure(_trajectories(mixture), out / "trajectories.png"),
        save_figure(_ddim_eta(mixture), out / "ddim_eta.png"),
        save_figure(_timestep_spacing(), out / "timestep_spacing.png"),
        save_figure(_inversion_round_trip(mixture), out / "inversion_round_trip.png"),
        save_figure(_steps_error(), out / "steps_error.png"),
    ]
