"""Figures of the flow-matching deck (``book/slides/flow_matching.md``): straight path on a slice,
conditional vs marginal paths, CFM targets, few-step error and the resolution shift, the path coefficients of VP and
rectified flow."""

from __future__ import annotations

from pathlib import Path

import torch

from dimedia_course import make_generator
from dimedia_course.course.slide_figures.common import (
    few_step_w1,
    grid_1d,
    mixture_1d,
    mni152_slice,
    noise_left,
    plain_log_ticks,
    save_figure,
    trajectory_paths,
)

__all__ = ["figures"]


def _flow_paths(mixture):
    """Straight conditional paths vs the exact marginal flow (Euler, the one sampling loop)."""
    import matplotlib.pyplot as plt

    from dimedia_course.sampling import sample
    from dimedia_course.schedulers import RFlowScheduler
    from dimedia_course.schedulers.rflow import flow_interpolant
    from dimedia_course.toy import ToyFlowModel

    g = make_generator(1)
    x0, eps = mixture.sample(30, generator=g).double(), torch.randn(30, 1, generator=g, dtype=torch.float64)
    s_grid = torch.linspace(0, 1, 51, dtype=torch.float64)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
    axes[0].plot(s_grid.numpy(), torch.stack([flow_interpolant(x0, eps, s) for s in s_grid])[:, :, 0].numpy(), lw=0.7)
    axes[0].set_title("conditional paths (cross)")
    _, traj = sample(
        ToyFlowModel(mixture),
        RFlowScheduler(use_discrete_timesteps=False),
        (30, 1, 1, 1),
        num_inference_steps=100,
        generator=make_generator(2),
        return_trajectory=True,
    )
    traj = trajectory_paths(traj)
    axes[1].plot(torch.linspace(1, 0, traj.shape[0]).numpy(), traj.numpy(), lw=0.7)
    axes[1].set_title("marginal flow, exact velocity")
    for ax in axes:
        noise_left(ax, "s (noise on the left, data on the right)")
    return fig


def _straight_path():
    """x_s = (1 - s) x_0 + s eps for one brain slice."""
    from dimedia_course.course import viz
    from dimedia_course.schedulers.rflow import flow_interpolant

    x0 = mni152_slice()
    noise = torch.randn(x0.shape, generator=make_generator(11))
    values = (0.0, 0.25, 0.5, 0.75, 1.0)
    frames = torch.cat([flow_interpolant(x0, noise, s) for s in values])
    return viz.show_images(frames, nrow=5, titles=[f"s = {s:g}" for s in values], vmin=-1.5, vmax=1.5, panel_size=1.4)


def _cfm_targets(mixture):
    """Conditional velocities x_0 - eps scattered around the marginal velocity they average to (s = 0.5)."""
    import matplotlib.pyplot as plt

    from dimedia_course.losses import flow_velocity_target
    from dimedia_course.schedulers.rflow import flow_interpolant

    s = 0.5
    g = make_generator(12)
    x0 = mixture.sample(1500, generator=g).double()
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x = grid_1d(-2.5, 2.5)
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    ax.scatter(
        flow_interpolant(x0, eps, s)[:, 0],
        flow_velocity_target(x0, eps)[:, 0],
        s=2,
        alpha=0.25,
        label=r"targets $\mathbf{x}_0 - \boldsymbol{\epsilon}$",
    )
    ax.plot(
        x[:, 0],
        mixture.flow_velocity(x, s)[:, 0],
        "k",
        lw=1.5,
        label=r"marginal $\mathbb{E}[\mathbf{x}_0 - \boldsymbol{\epsilon} \mid \mathbf{x}_s]$",
    )
    ax.set_xlabel(r"$\mathbf{x}_s$  (s = 0.5)")
    ax.set_ylabel("velocity")
    ax.legend(frameon=False, fontsize=8)
    return fig


def _few_steps_and_shift():
    """Left: W1 of Euler flow vs DDIM at equal network calls. Right: the resolution shift of RFlowScheduler."""
    import matplotlib.pyplot as plt

    from dimedia_course.schedulers import RFlowScheduler
    from dimedia_course.schedulers.rflow import resolution_shift_ratio, timestep_shift

    nfe = (1, 2, 4, 8, 16, 32)
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
    for kind, label in (("flow", "rectified flow, Euler"), ("ddim", "DDIM (VP)")):
        axes[0].loglog(nfe, [few_step_w1(kind, n) for n in nfe], "o-", label=label)
    axes[0].set_xlabel("network calls")
    axes[0].set_ylabel("W1 to the data")
    axes[0].legend(frameon=False, fontsize=8)
    axes[0].grid(alpha=0.3)
    plain_log_ticks(axes[0], nfe, (0.03, 0.1, 0.3, 1))
    s = torch.linspace(0, 1, 101, dtype=torch.float64)
    for side in (32, 64, 128):
        ratio = resolution_shift_ratio(side**3, 32**3, 3)
        axes[1].plot(s, timestep_shift(s, ratio), label=rf"${side}^3$: $\alpha = {ratio:.3g}$")
    sched = RFlowScheduler(use_discrete_timesteps=False, use_timestep_transform=True, base_img_size_numel=32**3)
    sched.set_timesteps(10, input_img_size_numel=64**3)
    axes[1].plot([1 - i / 10 for i in range(10)], (sched.timesteps / 1000).tolist(), "o", color="C1", ms=4)
    axes[1].set_xlabel("s (unshifted)")
    axes[1].set_ylabel("shifted s'")
    axes[1].set_title(r"shift for volumes trained at $32^3$", fontsize=10)
    axes[1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def _path_coefficients(schedule):
    """Coefficients of x_0 and eps along the VP path (linear schedule) and the straight path."""
    import matplotlib.pyplot as plt

    ab = schedule.alphas_cumprod.double()
    s = torch.arange(1, len(ab) + 1) / len(ab)
    fig, ax = plt.subplots(figsize=(4.0, 1.45))
    ax.plot(s, ab.sqrt(), "C0", label=r"VP: $\sqrt{\bar\alpha_t}$ on $\mathbf{x}_0$")
    ax.plot(s, (1 - ab).sqrt(), "C0--", label=r"VP: $\sqrt{1-\bar\alpha_t}$ on $\boldsymbol{\epsilon}$")
    ax.plot(s, 1 - s, "C1", label=r"flow: $1-s$ on $\mathbf{x}_0$")
    ax.plot(s, s, "C1--", label=r"flow: $s$ on $\boldsymbol{\epsilon}$")
    ax.set_xlabel("t / T = s")
    ax.legend(frameon=False, fontsize=9, ncol=1, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.grid(alpha=0.3)
    return fig


def figures(out: Path) -> list[Path]:
    """Draw the flow-matching deck's figures into ``out`` and return their paths."""
    from dimedia_course.schedules import NoiseSchedule

    mixture = mixture_1d()
    return [
        save_figure(_flow_paths(mixture), out / "flow_paths.png"),
        save_figure(_straight_path(), out / "straight_path.png"),
        save_figure(_cfm_targets(mixture), out / "cfm_targets.png"),
        save_figure(_few_steps_and_shift(), out / "few_steps_shift.png"),
        save_figure(_path_coefficients(NoiseSchedule.from_name("linear", 1000)), out / "path_coefficients.png"),
    ]
