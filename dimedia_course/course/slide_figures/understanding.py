"""Figures of the understanding deck (``book/slides/understanding.md``): score and Langevin dynamics
(plain and annealed), score fields, DSM targets, Tweedie's denoiser, forward SDE paths, VP vs VE scales, reverse SDE vs
probability-flow ODE, the ODE's noise-to-data map."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from dimedia_course import make_generator
from dimedia_course.course.slide_figures.common import (
    ddim_scheduler,
    grid_1d,
    mixture_1d,
    mixture_density,
    noise_left,
    save_figure,
    toy_ddpm_run,
    toy_denoiser,
    trajectory_paths,
)
from dimedia_course.toy import GaussianMixture

__all__ = ["figures"]


def _score_fields(alphas_cumprod):
    """The exact score of a 2D two-component mixture at three noise levels (arrows) over its density."""
    import matplotlib.pyplot as plt

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


_LANGEVIN_NOISE_VAR = 0.05  # the Langevin chains sample the mixture smoothed by N(0, 0.05)


def _langevin_chains(mixture):
    """1000 particles from N(0, 16): 200 Langevin steps at one noise level, and annealed Langevin over ten levels
    from sigma = 3 down to the same level (step sizes proportional to sigma^2, Song & Ermon 2019, Alg. 1)."""
    from dimedia_course.sampling import langevin_step

    g = make_generator(3)
    eta = 0.02
    start = 4 * torch.randn(1000, 1, generator=g, dtype=torch.float64)
    plain = start
    for _ in range(200):
        plain = langevin_step(plain, mixture.score(plain, 1.0, _LANGEVIN_NOISE_VAR), eta, generator=g)
    annealed = start
    for sigma in torch.logspace(math.log10(3.0), math.log10(_LANGEVIN_NOISE_VAR**0.5), 10, dtype=torch.float64):
        var = float(sigma) ** 2
        for _ in range(20):
            annealed = langevin_step(annealed, mixture.score(annealed, 1.0, var), eta * var / _LANGEVIN_NOISE_VAR, g)
    return plain, annealed


def _langevin(mixture, plain):
    """Langevin dynamics with the exact score of a slightly noised 1D mixture: a histogram against the density."""
    import matplotlib.pyplot as plt

    grid = grid_1d()
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.hist(
        plain[:, 0].numpy(),
        bins=80,
        range=(-3.5, 3.5),
        density=True,
        alpha=0.5,
        histtype="stepfilled",
        label="200 Langevin steps",
    )
    ax.plot(
        grid.numpy(),
        mixture_density(mixture, grid, 1.0, _LANGEVIN_NOISE_VAR).numpy(),
        "k",
        lw=1,
        label="target density",
    )
    ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("x")
    ax.set_title("Langevin dynamics from N(0, 16) with the exact score")
    return fig


def _annealed_langevin(mixture, plain, annealed):
    """Annealed Langevin recovers the mode weights that single-level Langevin gets wrong."""
    import matplotlib.pyplot as plt
    import numpy as np

    grid = grid_1d()
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6), gridspec_kw={"width_ratios": [1.4, 1]})
    axes[0].hist(
        annealed[:, 0].numpy(),
        bins=80,
        range=(-3.5, 3.5),
        density=True,
        alpha=0.5,
        color="C2",
        histtype="stepfilled",
        label="annealed, 10 levels x 20 steps",
    )
    axes[0].plot(
        grid[:, 0], mixture_density(mixture, grid, 1.0, _LANGEVIN_NOISE_VAR), "k", lw=1, label="target density"
    )
    axes[0].legend(frameon=False, fontsize=8)
    axes[0].set_xlabel("x")
    modes = np.arange(mixture.num_components)
    bars = {"true weights": mixture.weights, "one level": None, "annealed": None}
    for name, x in (("one level", plain), ("annealed", annealed)):
        nearest = mixture.log_joint(x, 1.0, _LANGEVIN_NOISE_VAR).argmax(1)  # the component each particle sits in
        bars[name] = torch.bincount(nearest, minlength=mixture.num_components) / len(x)
    for i, (name, w) in enumerate(bars.items()):
        axes[1].bar(modes + (i - 1) * 0.27, w.numpy(), width=0.27, label=name, color=("k", "C0", "C2")[i])
    axes[1].set_xticks(modes, [f"mode {m:+.0f}" for m in mixture.means[:, 0].tolist()])
    axes[1].set_title("fraction of particles per mode", fontsize=10)
    axes[1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def _score_1d(mixture):
    import matplotlib.pyplot as plt

    x = grid_1d()
    fig, axes = plt.subplots(2, 1, figsize=(5.5, 2.9), sharex=True)
    axes[0].plot(x[:, 0], mixture_density(mixture, x, 1.0, _LANGEVIN_NOISE_VAR), "k", lw=1)
    axes[0].set_ylabel(r"$p(x)$")
    axes[1].plot(x[:, 0], mixture.score(x, 1.0, _LANGEVIN_NOISE_VAR)[:, 0], "C0")
    axes[1].axhline(0, color="0.5", lw=0.8)
    axes[1].set_ylim(-15, 15)
    axes[1].set_ylabel(r"$\nabla_x \log p(x)$")
    axes[1].set_xlabel("x")
    for ax in axes:
        for m in mixture.means[:, 0].tolist():
            ax.axvline(m, color="C3", ls=":", lw=0.8)
    fig.tight_layout()
    return fig


def _dsm_targets(mixture, schedule):
    """Denoising score matching: the per-sample targets scatter around the exact score they average to."""
    import matplotlib.pyplot as plt

    from dimedia_course.forward import q_sample
    from dimedia_course.losses import score_from_epsilon

    t = 120
    ab = float(schedule.alphas_cumprod[t])
    g = make_generator(8)
    x0 = mixture.sample(1500, generator=g).double()
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x_t = q_sample(x0, t, eps, schedule.alphas_cumprod.double())
    x = grid_1d(-3, 3)
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    ax.scatter(
        x_t[:, 0],
        score_from_epsilon(eps, ab)[:, 0],
        s=2,
        alpha=0.25,
        color="C0",
        label=r"targets $-\epsilon / \sqrt{1-\bar\alpha_t}$",
    )
    ax.plot(x[:, 0], mixture.score_vp(x, ab)[:, 0], "k", lw=1.5, label=r"exact $\nabla \log q(x_t)$")
    ax.set_xlabel(r"$x_t$" + f"  (t = {t})")
    ax.set_ylim(-8, 8)
    ax.legend(frameon=False, fontsize=8, loc="upper right", markerscale=5)
    return fig


def _tweedie(mixture, sched):
    """E[x_0 | x_t] of the exact denoiser: a staircase onto the modes at low noise, the data mean at high noise."""
    import matplotlib.pyplot as plt

    model = toy_denoiser(mixture, sched, "sample")
    x = torch.linspace(-3.5, 3.5, 300).view(-1, 1, 1, 1)
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    for t in (20, 150, 400, 800):
        ax.plot(x.flatten(), model(x, torch.full((300,), t)).flatten(), label=f"t = {t}")
    for m in mixture.means[:, 0].tolist():
        ax.axhline(m, color="0.6", ls=":", lw=0.8)
    ax.set_xlabel(r"$x_t$")
    ax.set_ylabel(r"$\mathbb{E}[x_0 \mid x_t]$")
    ax.legend(frameon=False, fontsize=8, ncol=2)
    return fig


def _forward_paths(mixture, schedule):
    """Sample paths of the forward chain (Euler-Maruyama of the VP SDE) from data to noise."""
    import matplotlib.pyplot as plt

    from dimedia_course.forward import q_step

    g = make_generator(9)
    x = mixture.sample(25, generator=g).double()
    paths = [x]
    for t in range(schedule.num_train_timesteps):
        x = q_step(x, t, torch.randn(x.shape, generator=g, dtype=torch.float64), schedule)
        paths.append(x)
    fig, ax = plt.subplots(figsize=(6, 2.4))
    ax.plot(torch.arange(len(paths)).numpy(), torch.stack(paths)[:, :, 0].numpy(), lw=0.6)
    ax.set_xlabel("t (data on the left, noise on the right)")
    ax.set_ylabel(r"$x_t$")
    return fig


def _vp_ve(schedule):
    """Signal scale and noise std of the VP process and of the VE process with the same SNR."""
    import matplotlib.pyplot as plt

    ab = schedule.alphas_cumprod.double()
    t = torch.arange(len(ab))
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    ax.semilogy(t, ab.sqrt(), "C0", label=r"VP signal $\sqrt{\bar\alpha_t}$")
    ax.semilogy(t, (1 - ab).sqrt(), "C0--", label=r"VP noise $\sqrt{1-\bar\alpha_t}$")
    ax.axhline(1.0, color="C1", label="VE signal 1")
    ax.semilogy(t, schedule.ve_sigma(), "C1--", label=r"VE noise $\sigma_t = \mathrm{SNR}(t)^{-1/2}$")
    ax.set_xlabel("timestep t (linear schedule)")
    ax.legend(frameon=False, fontsize=8, ncol=2, loc="upper left")
    ax.set_ylim(1e-2, 1e4)
    ax.grid(alpha=0.3)
    return fig


def _sde_vs_ode(mixture):
    """The reverse SDE (DDPM) and the probability-flow ODE (DDIM, eta = 0) from the same x_T reach the same law."""
    import matplotlib.pyplot as plt

    from dimedia_course.sampling import sample

    x_T, sde = toy_ddpm_run()
    sched = ddim_scheduler()
    _, traj = sample(toy_denoiser(mixture, sched), sched, x_T=x_T, num_inference_steps=100, return_trajectory=True)
    ode = trajectory_paths(traj)
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6), gridspec_kw={"width_ratios": [1.5, 1]})
    axes[0].plot(torch.linspace(1, 0, sde.shape[0]).numpy(), sde[:, :12].numpy(), color="C0", lw=0.5)
    axes[0].plot(torch.linspace(1, 0, ode.shape[0]).numpy(), ode[:, :12].numpy(), color="C3", lw=1)
    axes[0].plot([], [], color="C0", label="reverse SDE (DDPM)")
    axes[0].plot([], [], color="C3", label="probability-flow ODE (DDIM)")
    axes[0].legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1), ncol=2)
    noise_left(axes[0])
    grid = grid_1d()
    for paths, colour, label in ((sde, "C0", "SDE"), (ode, "C3", "ODE")):
        axes[1].hist(
            paths[-1].numpy(),
            bins=60,
            range=(-3.5, 3.5),
            density=True,
            histtype="step",
            color=colour,
            label=f"{label}, 2000 samples",
        )
    axes[1].plot(grid[:, 0], mixture_density(mixture, grid), "k", lw=0.8, label="data")
    axes[1].set_title("same marginal at t = 0", fontsize=10)
    axes[1].set_yticks([])
    axes[1].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def _ode_map(mixture):
    """The deterministic map x_T -> x_0 of the probability-flow ODE (DDIM, 100 steps) and its inversion."""
    import matplotlib.pyplot as plt

    from dimedia_course.inversion import ddim_invert
    from dimedia_course.sampling import sample

    sched = ddim_scheduler()
    model = toy_denoiser(mixture, sched)
    z = torch.linspace(-3, 3, 200).view(-1, 1, 1, 1)
    x0 = sample(model, sched, x_T=z, num_inference_steps=100)
    data = mixture.sample(7, generator=make_generator(10)).view(-1, 1, 1, 1)
    codes = ddim_invert(model, sched, data, num_inference_steps=100)
    back = sample(model, sched, x_T=codes, num_inference_steps=100)
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    ax.plot(z.flatten(), x0.flatten(), "C0", lw=1.5, label=r"ODE: $\mathbf{x}_T \mapsto \mathbf{x}_0$")
    ax.plot(codes.flatten(), data.flatten(), "o", mfc="none", color="C3", label=r"data $\mathbf{x}_0$ at its code")
    ax.plot(codes.flatten(), back.flatten(), "x", color="k", label="decoded again")
    ax.set_xlabel(r"noise code $\mathbf{x}_T$")
    ax.set_ylabel(r"$\mathbf{x}_0$")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def figures(out: Path) -> list[Path]:
    """Draw the understanding deck's figures into ``out`` and return their paths."""
    from dimedia_course.schedulers import DDPMScheduler
    from dimedia_course.schedules import NoiseSchedule

    mixture = mixture_1d()
    linear = NoiseSchedule.from_name("linear", 1000)
    ddpm = DDPMScheduler(1000)
    plain, annealed = _langevin_chains(mixture)
    return [
        save_figure(_score_fields(ddpm.alphas_cumprod), out / "score_field.png"),
        save_figure(_langevin(mixture, plain), out / "langevin.png"),
        save_figure(_annealed_langevin(mixture, plain, annealed), out / "annealed_langevin.png"),
        save_figure(_score_1d(mixture), out / "score_1d.png"),
        save_figure(_dsm_targets(mixture, linear), out / "dsm_targets.png"),
        save_figure(_tweedie(mixture, ddpm), out / "tweedie.png"),
        save_figure(_forward_paths(mixture, linear), out / "forward_sde_paths.png"),
        save_figure(_vp_ve(linear), out / "vp_ve.png"),
        save_figure(_sde_vs_ode(mixture), out / "sde_vs_ode.png"),
        save_figure(_ode_map(mixture), out / "ode_map.png"),
    ]
