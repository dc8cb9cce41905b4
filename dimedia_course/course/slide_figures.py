"""Figures of the reveal.js slide decks, drawn by the package when the course is built.

``write_slide_figures(out_dir, applications_figures)`` writes small PNGs (dpi 100; about 11 s on one CPU
thread, no training, no pretrained network) into a git-ignored folder next to the decks (``book/slides/_figures``).
One function per deck draws that deck's figures and returns their paths:

- intro: the ISBI 2024 schedule, three views of the MNI152 template, data vs model samples of a 2D mixture, a
  schematic of the generative families, explicit density vs samples, a 1D flow as a change of variables;
- ddpm: noise schedules, the forward process on brain slices, training slices, exact noisy marginals, posterior
  coefficients and variances, reverse-process marginals and 2D snapshots, the bound's weights, the three targets;
- understanding: score and Langevin dynamics (plain and annealed), score fields, DSM targets, Tweedie's
  denoiser, forward SDE paths, VP vs VE scales, reverse SDE vs probability-flow ODE, the ODE's noise-to-data map;
- sampling: DDPM vs DDIM paths, eta 0 vs 1, timestep spacings, the DDIM inversion round trip, error vs steps;
- flow_matching: straight path on a slice, conditional vs marginal paths, CFM targets, few-step error and the
  resolution shift, the path coefficients of VP and rectified flow;
- conditioning: class-conditional samples, the classifier-guidance gradient, classifier-free guidance, data
  consistency and posterior sampling on a 2D mixture, the guidance record of the shipped checkpoint;
- architectures: the sinusoidal timestep embedding, a slice cut into transformer patches, sampling cost records;
- applications: the two classes of the CFG data, MRI undersampling, one data-consistency step, sparse-view CT,
  synthetic lesions, and copies of the applications benchmark's example figures;
- limitations: compute, a 3D volume as a stack of slices, memorisation and quality against the real-vs-real floor.

Every quantity comes from the package: the exact toy models (:mod:`dimedia_course.toy`), schedules, schedulers and
the one sampling loop, data slices, and the measured records of the shipped checkpoints
(``dimedia_course/checkpoints/*.json``). This module only draws.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import warnings
from pathlib import Path

import torch

from dimedia_course import make_generator
from dimedia_course.toy import GaussianMixture

__all__ = ["write_slide_figures"]

# ----------------------------------------------------------------------------------------------- shared helpers


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _mixture_1d() -> GaussianMixture:
    """The 1D three-mode mixture of the slides (the flow-matching chapter's ``MIXTURE``)."""
    return GaussianMixture([[-2.0], [0.0], [2.0]], std=0.15, weights=[0.3, 0.2, 0.5])


def _square_mixture() -> GaussianMixture:
    """Four 2D components on the corners of a square (conditioning figures)."""
    return GaussianMixture([[-1.5, -1.5], [1.5, 1.5], [1.5, -1.5], [-1.5, 1.5]], std=0.4)


def _ring_mixture() -> GaussianMixture:
    """Six 2D components on a circle with unequal weights."""
    angles = torch.arange(6, dtype=torch.float64) * math.pi / 3
    return GaussianMixture(2 * torch.stack([angles.cos(), angles.sin()], 1), 0.25, [3, 1, 2, 1.5, 1.5, 1])


def _grid(lo: float = -3.5, hi: float = 3.5, n: int = 400) -> torch.Tensor:
    return torch.linspace(lo, hi, n, dtype=torch.float64)[:, None]


def _density(mixture: GaussianMixture, x: torch.Tensor, scale=1.0, noise_var=0.0) -> torch.Tensor:
    """The exact density of ``scale x_0 + sqrt(noise_var) eps`` at the points ``x`` (``GaussianMixture.log_joint``)."""
    return torch.logsumexp(mixture.log_joint(x, scale, noise_var), dim=1).exp()


def _paths(trajectory) -> torch.Tensor:
    """A trajectory of 1D samples ``[(B, 1, 1, 1), ...]`` as a ``(steps + 1, B)`` tensor."""
    return torch.stack(trajectory)[:, :, 0, 0, 0]


def _toy_denoiser(mixture: GaussianMixture, scheduler, prediction_type: str = "epsilon"):
    from dimedia_course.toy import ToyDenoiser

    return ToyDenoiser(mixture, scheduler.alphas_cumprod, prediction_type)


def _ddim():
    from dimedia_course.schedulers import DDIMScheduler

    return DDIMScheduler(1000, clip_sample=False)


def _ddpm():
    from dimedia_course.schedulers import DDPMScheduler

    return DDPMScheduler(1000, clip_sample=False)


def _toy_samples(mixture: GaussianMixture, scheduler, n: int, steps: int, seed: int, **kwargs) -> torch.Tensor:
    """``n`` samples ``(n, D)`` of the one sampling loop with the exact denoiser of ``mixture``."""
    from dimedia_course.sampling import sample

    model = _toy_denoiser(mixture, scheduler)
    shape = (n, mixture.dim, 1, 1)
    return sample(model, scheduler, shape, num_inference_steps=steps, generator=make_generator(seed), **kwargs).view(
        n, -1
    )


def _slice(size: int = 64, axis: str = "axial") -> torch.Tensor:
    """The central slice of the MNI152 template along ``axis``, ``(1, 1, size, size)``, no augmentation."""
    from dimedia_course.data import mni152_slices

    return mni152_slices(n=1, size=size, axis=axis, slice_range=(0.5, 0.5), augment=False)


def _records() -> dict:
    """The measured records of the shipped checkpoints, ``name -> record``."""
    from dimedia_course.pretrained import CHECKPOINT_DIR

    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(CHECKPOINT_DIR.glob("*.json"))}


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


def _plain_log_ticks(ax, xticks=None, yticks=None) -> None:
    """No labels on the minor ticks of log axes; plain number labels at ``xticks`` and ``yticks``."""
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    if xticks is not None:
        ax.set_xticks(list(xticks), [f"{x:g}" for x in xticks])
    if yticks is not None:
        ax.set_yticks(list(yticks), [f"{y:g}" for y in yticks])


def _noise_left(ax, label: str = "t / T (noise on the left, data on the right)") -> None:
    ax.invert_xaxis()
    ax.set_xlabel(label)


@functools.lru_cache(maxsize=1)
def _toy_ddpm_run(n: int = 2000):
    """DDPM (1000 steps) with the exact denoiser of the 1D mixture: the start ``x_T`` and the ``(1001, n)`` paths."""
    from dimedia_course.sampling import sample

    sched = _ddpm()
    x_T = torch.randn(n, 1, 1, 1, generator=make_generator(6))
    model = _toy_denoiser(_mixture_1d(), sched)
    _, traj = sample(
        model, sched, x_T=x_T, num_inference_steps=1000, generator=make_generator(7), return_trajectory=True
    )
    return x_T, _paths(traj)


@functools.cache
def _few_step_w1(kind: str, steps: int) -> float:
    """1D Wasserstein distance of 4000 samples to 20,000 draws of the 1D mixture (the flow-matching chapter's
    table): ``kind`` is ``"ddpm"`` / ``"ddim"`` (exact denoiser, trailing spacing) or ``"flow"`` (Euler, exact
    velocity)."""
    from dimedia_course.metrics import wasserstein_1d
    from dimedia_course.sampling import sample
    from dimedia_course.schedulers import RFlowScheduler
    from dimedia_course.toy import ToyFlowModel

    mixture = _mixture_1d()
    reference = mixture.sample(20000, generator=make_generator(9))
    if kind == "flow":
        x = sample(
            ToyFlowModel(mixture),
            RFlowScheduler(use_discrete_timesteps=False),
            (4000, 1, 1, 1),
            num_inference_steps=steps,
            generator=make_generator(3),
        )
    else:
        x = _toy_samples(mixture, _ddpm() if kind == "ddpm" else _ddim(), 4000, steps, seed=3)
    return wasserstein_1d(x, reference)


# ------------------------------------------------------------------------------------------------------- intro


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
    images = torch.cat([_slice(96, axis) for axis in views])
    return viz.show_images(images, nrow=3, titles=[f"{v} slice" for v in views], panel_size=1.7)


def _learning_a_distribution():
    """Samples of a 2D mixture next to samples of the reverse process with its exact denoiser."""
    import matplotlib.pyplot as plt

    mixture = _ring_mixture()
    data = mixture.sample(500, generator=make_generator(0))
    model = _toy_samples(mixture, _ddim(), 500, 50, seed=1)
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

    mixture = _mixture_1d()
    x = _grid()
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.6), sharex=True)
    axes[0].plot(x[:, 0], _density(mixture, x), "k", lw=1)
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

    mixture = _mixture_1d()
    z_grid = torch.linspace(-3, 3, 121)
    z = torch.cat([z_grid, torch.randn(3000, generator=make_generator(4))]).view(-1, 1, 1, 1)
    x = sample(ToyFlowModel(mixture), RFlowScheduler(use_discrete_timesteps=False), x_T=z, num_inference_steps=50)
    x = x.flatten()
    fig, axes = plt.subplots(1, 2, figsize=(6.2, 2.4))
    axes[0].plot(z_grid.numpy(), x[:121].numpy(), "C0")
    axes[0].set_xlabel(r"$\mathbf{z} \sim \mathcal{N}(0, 1)$")
    axes[0].set_ylabel(r"$\mathbf{x} = f_\theta^{-1}(\mathbf{z})$")
    axes[0].set_title("an invertible, monotone map", fontsize=10)
    grid = _grid()
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
    axes[1].plot(grid[:, 0], _density(mixture, grid), "k", lw=1, label="data density")
    axes[1].set_title("pushed-forward Gaussian = data", fontsize=10)
    axes[1].set_xlabel("x")
    axes[1].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def _intro_figures(out: Path) -> list[Path]:
    return [
        _save(_schedule_timeline(), out / "isbi2024_schedule.png"),
        _save(_mni152_views(), out / "mni152_views.png"),
        _save(_learning_a_distribution(), out / "learning_a_distribution.png"),
        _save(_generative_families(), out / "generative_families.png"),
        _save(_explicit_implicit(), out / "explicit_implicit.png"),
        _save(_change_of_variables(), out / "change_of_variables.png"),
    ]


# -------------------------------------------------------------------------------------------------------- ddpm


def _noisy_marginals(mixture, alphas_cumprod):
    """Exact densities of q(x_t) for a 1D mixture (``GaussianMixture.log_joint``: variance a^2 s^2 + 1 - alphabar)."""
    import matplotlib.pyplot as plt

    x = _grid(-4, 4)
    fig, ax = plt.subplots(figsize=(8, 3))
    for t in (0, 100, 250, 500, 999):
        ab = torch.as_tensor(alphas_cumprod[t], dtype=torch.float64)
        ax.plot(x[:, 0].numpy(), _density(mixture, x, ab.sqrt(), 1 - ab).numpy(), label=f"t = {t}")
    ax.set_xlabel("x_t")
    ax.set_ylabel("density q(x_t)")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("marginals of the forward process (linear schedule, exact)")
    return fig


def _posterior_terms(schedule):
    """``(t, c_0, c_t, beta_t, beta_tilde)`` of Ho et al. 2020, eq. 7 (``forward.posterior_coefficients``)."""
    from dimedia_course.forward import posterior_coefficients

    ab, ab_prev, alpha = (v.double() for v in (schedule.alphas_cumprod, schedule.alphas_cumprod_prev, schedule.alphas))
    c0, ct, beta_tilde = posterior_coefficients(ab, ab_prev, alpha)
    return torch.arange(len(ab)), c0, ct, 1 - alpha, beta_tilde


def _posterior_coefficients(schedule):
    import matplotlib.pyplot as plt

    t, c0, ct, _, _ = _posterior_terms(schedule)
    fig, ax = plt.subplots(figsize=(3.4, 1.5))
    ax.semilogx(t[1:], c0[1:], label=r"$c_0$, weight of $\mathbf{x}_0$")
    ax.semilogx(t[1:], ct[1:], label=r"$c_t$, weight of $\mathbf{x}_t$")
    ax.set_xlabel("timestep t (linear schedule)")
    ax.legend(
        frameon=False,
        fontsize=9,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        title=r"$\tilde{\boldsymbol{\mu}}_t = c_0\,\mathbf{x}_0 + c_t\,\mathbf{x}_t$",
        title_fontsize=10,
    )
    ax.grid(alpha=0.3)
    _plain_log_ticks(ax, (1, 10, 100, 1000))
    return fig


def _reverse_variance(schedule):
    import matplotlib.pyplot as plt

    t, _, _, beta, beta_tilde = _posterior_terms(schedule)
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.5))
    axes[0].loglog(t[1:], beta[1:], label=r"$\beta_t$")
    axes[0].loglog(t[1:], beta_tilde[1:], "--", label=r"$\tilde\beta_t$")
    axes[0].legend(frameon=False, fontsize=9)
    axes[0].set_title("the two reverse variances", fontsize=10)
    axes[1].semilogx(t[1:], (beta_tilde / beta)[1:], "C2")
    axes[1].set_title(r"ratio $\tilde\beta_t / \beta_t$", fontsize=10)
    for ax in axes:
        ax.set_xlabel("timestep t (linear schedule, log axis)")
        ax.grid(alpha=0.3)
        _plain_log_ticks(ax)
    fig.tight_layout()
    return fig


def _reverse_marginals(mixture, alphas_cumprod):
    """Histograms of the DDPM chain (exact denoiser) at five timesteps over the exact q(x_t)."""
    import matplotlib.pyplot as plt

    _, paths = _toy_ddpm_run()
    x = _grid()
    fig, axes = plt.subplots(1, 5, figsize=(9, 2), sharey=True)
    for ax, t in zip(axes, (999, 500, 250, 50, -1)):
        xs = paths[999 - t]  # paths[k] is the sample at timestep 999 - k; the last entry is the clean sample
        ab = torch.tensor(1.0 if t < 0 else float(alphas_cumprod[t]), dtype=torch.float64)
        ax.hist(xs.numpy(), bins=60, range=(-3.5, 3.5), density=True, color="C0", alpha=0.5, histtype="stepfilled")
        ax.plot(x[:, 0], _density(mixture, x, ab.sqrt(), 1 - ab), "k", lw=1)
        ax.set_title("t = 0 (output)" if t < 0 else f"t = {t}", fontsize=10)
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def _sampling_snapshots():
    """A 2D DDPM chain (exact denoiser): particles from N(0, I) condense onto the data."""
    import matplotlib.pyplot as plt

    from dimedia_course.sampling import sample

    mixture, sched = _ring_mixture(), _ddpm()
    _, traj = sample(
        _toy_denoiser(mixture, sched),
        sched,
        (600, 2, 1, 1),
        num_inference_steps=1000,
        generator=make_generator(5),
        return_trajectory=True,
    )
    fig, axes = plt.subplots(1, 5, figsize=(9, 2.1), sharex=True, sharey=True)
    for ax, t in zip(axes, (999, 600, 300, 100, -1)):
        x = traj[999 - t].view(-1, 2)
        ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5)
        ax.set_title("t = 0 (output)" if t < 0 else f"t = {t}", fontsize=10)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlim(-3.5, 3.5)
        ax.set_ylim(-3.5, 3.5)
    fig.tight_layout()
    return fig


def _vlb_weights(schedule):
    """The bound's weight on the noise error (Ho eq. 12) against L_simple's constant one, each of mean 1."""
    import matplotlib.pyplot as plt

    from dimedia_course.losses import vlb_weight

    w = vlb_weight(torch.cumprod(1 - schedule.betas.double(), 0))[1:]
    t = torch.arange(1, len(w) + 1)
    fig, ax = plt.subplots(figsize=(5.5, 2.5))
    ax.semilogy(t, w / w.mean(), label=r"bound $L_{t-1}$: $\lambda_t$ (Ho et al., eq. 12)")
    ax.axhline(1.0, color="C1", label=r"$L_\mathrm{simple}$: 1")
    ax.set_xlabel("timestep t (linear schedule)")
    ax.set_ylabel("relative weight")
    ax.set_title(r"weight on $\|\boldsymbol{\epsilon} - \boldsymbol{\epsilon}_\theta\|^2$ (mean 1)", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def _training_targets():
    """One brain slice at t = 400: the network input and the three regression targets."""
    from dimedia_course.course import viz
    from dimedia_course.losses import training_target
    from dimedia_course.schedulers import DDPMScheduler

    sched = DDPMScheduler(1000)
    x0 = _slice()
    noise = torch.randn(x0.shape, generator=make_generator(5))
    t = torch.tensor([250])
    x_t = sched.add_noise(x0, noise, t)
    targets = [training_target(x0, noise, t, sched.alphas_cumprod, p) for p in ("epsilon", "sample", "v_prediction")]
    titles = ["input $x_t$, t = 250", r"target $\epsilon$", "target $x_0$", "target $v$"]
    return viz.show_images(torch.cat([x_t, *targets]), nrow=4, titles=titles, vmin=-2, vmax=2, panel_size=1.5)


def _parameterisation_weights():
    import matplotlib.pyplot as plt

    from dimedia_course.losses import x0_error_weight

    log_snr = torch.linspace(-8, 8, 200, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(3.6, 1.25))
    for p, label in (("epsilon", r"$\epsilon$: SNR"), ("sample", "$x_0$: 1"), ("v_prediction", "$v$: 1 + SNR")):
        ax.semilogy(log_snr, torch.as_tensor(x0_error_weight(log_snr.exp(), p)).expand(200), label=label)
    ax.set_xlabel(r"$\log \mathrm{SNR}(t)$  (noise $\leftarrow$ $\rightarrow$ data)")
    ax.set_yticks([1e-3, 1, 1e3], ["0.001", "1", "1000"])
    ax.legend(
        frameon=False,
        fontsize=9,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        title=r"weight on $\|\mathbf{x}_0 - \hat{\mathbf{x}}_0\|^2$",
        title_fontsize=9,
    )
    ax.grid(alpha=0.3)
    return fig


def _ddpm_figures(out: Path) -> list[Path]:
    from dimedia_course.course import viz
    from dimedia_course.data import mni152_slices
    from dimedia_course.schedulers import DDPMScheduler
    from dimedia_course.schedules import NoiseSchedule, make_beta_schedule

    schedules = {"linear": make_beta_schedule("linear", 1000), "cosine": make_beta_schedule("cosine", 1000)}
    ddpm = DDPMScheduler(1000)
    linear = NoiseSchedule.from_name("linear", 1000)
    slices = mni152_slices(n=3, size=64, seed=0)
    forward = viz.plot_forward_process(
        slices, ddpm.alphas_cumprod, [0, 100, 250, 500, 750, 999], generator=make_generator(1)
    )
    data = mni152_slices(n=24, size=32, axis="all", slice_range=(0, 1), min_brain_fraction=0.2, seed=0)
    return [
        _save(viz.plot_schedules(schedules), out / "schedules.png"),
        _save(forward, out / "forward_process.png"),
        _save(viz.show_images(data, nrow=8), out / "training_slices.png"),
        _save(_noisy_marginals(_mixture_1d(), ddpm.alphas_cumprod), out / "noisy_marginals.png"),
        _save(_posterior_coefficients(linear), out / "posterior_coefficients.png"),
        _save(_reverse_variance(linear), out / "reverse_variance.png"),
        _save(_reverse_marginals(_mixture_1d(), ddpm.alphas_cumprod), out / "reverse_marginals.png"),
        _save(_sampling_snapshots(), out / "sampling_snapshots.png"),
        _save(_vlb_weights(linear), out / "vlb_weights.png"),
        _save(_training_targets(), out / "training_targets.png"),
        _save(_parameterisation_weights(), out / "parameterisation_weights.png"),
    ]


# ----------------------------------------------------------------------------------------------- understanding


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

    grid = _grid()
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
    ax.plot(grid.numpy(), _density(mixture, grid, 1.0, _LANGEVIN_NOISE_VAR).numpy(), "k", lw=1, label="target density")
    ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("x")
    ax.set_title("Langevin dynamics from N(0, 16) with the exact score")
    return fig


def _annealed_langevin(mixture, plain, annealed):
    """Annealed Langevin recovers the mode weights that single-level Langevin gets wrong."""
    import matplotlib.pyplot as plt
    import numpy as np

    grid = _grid()
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
    axes[0].plot(grid[:, 0], _density(mixture, grid, 1.0, _LANGEVIN_NOISE_VAR), "k", lw=1, label="target density")
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

    x = _grid()
    fig, axes = plt.subplots(2, 1, figsize=(5.5, 2.9), sharex=True)
    axes[0].plot(x[:, 0], _density(mixture, x, 1.0, _LANGEVIN_NOISE_VAR), "k", lw=1)
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
    x = _grid(-3, 3)
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

    model = _toy_denoiser(mixture, sched, "sample")
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

    x_T, sde = _toy_ddpm_run()
    sched = _ddim()
    _, traj = sample(_toy_denoiser(mixture, sched), sched, x_T=x_T, num_inference_steps=100, return_trajectory=True)
    ode = _paths(traj)
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6), gridspec_kw={"width_ratios": [1.5, 1]})
    axes[0].plot(torch.linspace(1, 0, sde.shape[0]).numpy(), sde[:, :12].numpy(), color="C0", lw=0.5)
    axes[0].plot(torch.linspace(1, 0, ode.shape[0]).numpy(), ode[:, :12].numpy(), color="C3", lw=1)
    axes[0].plot([], [], color="C0", label="reverse SDE (DDPM)")
    axes[0].plot([], [], color="C3", label="probability-flow ODE (DDIM)")
    axes[0].legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1), ncol=2)
    _noise_left(axes[0])
    grid = _grid()
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
    axes[1].plot(grid[:, 0], _density(mixture, grid), "k", lw=0.8, label="data")
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

    sched = _ddim()
    model = _toy_denoiser(mixture, sched)
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


def _understanding_figures(out: Path) -> list[Path]:
    from dimedia_course.schedulers import DDPMScheduler
    from dimedia_course.schedules import NoiseSchedule

    mixture = _mixture_1d()
    linear = NoiseSchedule.from_name("linear", 1000)
    ddpm = DDPMScheduler(1000)
    plain, annealed = _langevin_chains(mixture)
    return [
        _save(_score_fields(ddpm.alphas_cumprod), out / "score_field.png"),
        _save(_langevin(mixture, plain), out / "langevin.png"),
        _save(_annealed_langevin(mixture, plain, annealed), out / "annealed_langevin.png"),
        _save(_score_1d(mixture), out / "score_1d.png"),
        _save(_dsm_targets(mixture, linear), out / "dsm_targets.png"),
        _save(_tweedie(mixture, ddpm), out / "tweedie.png"),
        _save(_forward_paths(mixture, linear), out / "forward_sde_paths.png"),
        _save(_vp_ve(linear), out / "vp_ve.png"),
        _save(_sde_vs_ode(mixture), out / "sde_vs_ode.png"),
        _save(_ode_map(mixture), out / "ode_map.png"),
    ]


# ---------------------------------------------------------------------------------------------------- sampling


def _trajectories(mixture):
    """Thirty 1D paths of DDPM (1000 steps, from the shared run) and DDIM (50 steps) with the exact denoiser."""
    import matplotlib.pyplot as plt

    from dimedia_course.sampling import sample

    sched = _ddim()
    _, ddim = sample(
        _toy_denoiser(mixture, sched),
        sched,
        (30, 1, 1, 1),
        num_inference_steps=50,
        generator=make_generator(0),
        return_trajectory=True,
    )
    fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
    for ax, name, traj in zip(axes, ("DDPM, 1000 steps", "DDIM, 50 steps"), (_toy_ddpm_run()[1][:, :30], _paths(ddim))):
        ax.plot(torch.linspace(1, 0, traj.shape[0]).numpy(), traj.numpy(), lw=0.7)
        ax.set_title(name)
        _noise_left(ax)
    return fig


def _ddim_eta(mixture):
    """DDIM with 50 steps from the same x_T: eta = 0 (deterministic) and eta = 1 (DDPM-like noise)."""
    import matplotlib.pyplot as plt

    from dimedia_course.sampling import sample

    sched = _ddim()
    model = _toy_denoiser(mixture, sched)
    x_T = torch.randn(25, 1, 1, 1, generator=make_generator(0))
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.5), sharey=True)
    for ax, eta in zip(axes, (0.0, 1.0)):
        _, traj = sample(
            model, sched, x_T=x_T, num_inference_steps=50, eta=eta, generator=make_generator(8), return_trajectory=True
        )
        ax.plot(torch.linspace(1, 0, 51).numpy(), _paths(traj).numpy(), lw=0.7)
        ax.set_title(rf"DDIM, 50 steps, $\eta = {eta:g}$", fontsize=10)
        _noise_left(ax, "t / T")
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

    sched = _ddim()
    model = _toy_denoiser(mixture, sched)
    x0 = mixture.sample(8, generator=make_generator(10)).view(-1, 1, 1, 1)
    codes, up = ddim_invert(model, sched, x0, num_inference_steps=10, return_trajectory=True)
    _, down = sample(model, sched, x_T=codes, num_inference_steps=10, return_trajectory=True)
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
    s = torch.linspace(1, 0, 11).numpy()
    axes[0].plot(s[::-1], _paths(up).numpy(), color="C3", ls="--", lw=1)
    axes[0].plot(s, _paths(down).numpy(), color="C0", lw=0.8)
    axes[0].plot([], [], color="C3", ls="--", label="inversion: data to noise")
    axes[0].plot([], [], color="C0", label="sampling: back to data")
    axes[0].legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1), ncol=2)
    _noise_left(axes[0], "t / T (10 DDIM steps each way)")
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
    _plain_log_ticks(axes[1], steps, (0.02, 0.05, 0.1, 0.2, 0.5))
    fig.tight_layout()
    return fig


def _steps_error():
    """Sample error (1D W1 to the data) of DDPM and DDIM with the exact denoiser against the number of steps."""
    import matplotlib.pyplot as plt

    steps = (2, 4, 8, 16, 32, 64)
    fig, ax = plt.subplots(figsize=(5, 2.6))
    for kind, label in (("ddpm", "DDPM (stochastic)"), ("ddim", r"DDIM ($\eta = 0$)")):
        ax.loglog(steps, [_few_step_w1(kind, n) for n in steps], "o-", label=label)
    ax.set_xlabel("number of steps = network calls")
    ax.set_ylabel("W1 to the data")
    ax.legend(frameon=False, fontsize=9)
    ax.grid(alpha=0.3)
    _plain_log_ticks(ax, steps, (0.03, 0.1, 0.3, 1))
    return fig


def _sampling_figures(out: Path) -> list[Path]:
    mixture = _mixture_1d()
    return [
        _save(_trajectories(mixture), out / "trajectories.png"),
        _save(_ddim_eta(mixture), out / "ddim_eta.png"),
        _save(_timestep_spacing(), out / "timestep_spacing.png"),
        _save(_inversion_round_trip(mixture), out / "inversion_round_trip.png"),
        _save(_steps_error(), out / "steps_error.png"),
    ]


# ----------------------------------------------------------------------------------------------- flow matching


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
    traj = _paths(traj)
    axes[1].plot(torch.linspace(1, 0, traj.shape[0]).numpy(), traj.numpy(), lw=0.7)
    axes[1].set_title("marginal flow, exact velocity")
    for ax in axes:
        _noise_left(ax, "s (noise on the left, data on the right)")
    return fig


def _straight_path():
    """x_s = (1 - s) x_0 + s eps for one brain slice."""
    from dimedia_course.course import viz
    from dimedia_course.schedulers.rflow import flow_interpolant

    x0 = _slice()
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
    x = _grid(-2.5, 2.5)
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
        axes[0].loglog(nfe, [_few_step_w1(kind, n) for n in nfe], "o-", label=label)
    axes[0].set_xlabel("network calls")
    axes[0].set_ylabel("W1 to the data")
    axes[0].legend(frameon=False, fontsize=8)
    axes[0].grid(alpha=0.3)
    _plain_log_ticks(axes[0], nfe, (0.03, 0.1, 0.3, 1))
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


def _flow_matching_figures(out: Path) -> list[Path]:
    from dimedia_course.schedules import NoiseSchedule

    mixture = _mixture_1d()
    return [
        _save(_flow_paths(mixture), out / "flow_paths.png"),
        _save(_straight_path(), out / "straight_path.png"),
        _save(_cfm_targets(mixture), out / "cfm_targets.png"),
        _save(_few_steps_and_shift(), out / "few_steps_shift.png"),
        _save(_path_coefficients(NoiseSchedule.from_name("linear", 1000)), out / "path_coefficients.png"),
    ]


# ------------------------------------------------------------------------------------------------ conditioning


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
    sched = _ddim()
    uncond = _toy_samples(mixture, sched, 600, 50, seed=13)
    y = torch.arange(3).repeat_interleave(200)
    cond = _toy_samples(mixture, sched, 600, 50, seed=14, y=y)
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
    sched = _ddpm()
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
    sched = _ddim()
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), sharex=True, sharey=True)
    for ax, s in zip(axes, (0.0, 1.0, 4.0)):
        x = _toy_samples(classes, sched, 600, 50, seed=0, y=torch.ones(600, dtype=torch.long), guidance_scale=s)
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.5)
        ax.axvline(0, color="k", lw=0.5)
        ax.set_title(f"guidance scale s = {s:g}")
        ax.set_xlim(-3.5, 4.5)
        ax.set_ylim(-2.5, 2.5)
    return fig


def _data_consistency_toy():
    """Inpainting a 2D mixture: x_1 = 1.5 is measured and imposed on every clean estimate; x_2 is generated."""
    mixture, sched = _square_mixture(), _ddim()
    measured = 1.5

    def keep_measured(x0, t):
        x0 = x0.clone()
        x0[:, 0] = measured
        return x0

    prior = _toy_samples(mixture, sched, 600, 50, seed=15)
    posterior = _toy_samples(mixture, sched, 600, 50, seed=16, x0_correction=keep_measured)
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
    mixture, sched = _square_mixture(), _ddim()

    def residual(x0):
        return x0.flatten(1).sum(1).abs().sum()  # ||y - A(x0_hat)|| per sample, y = 0, A = x_1 + x_2

    prior = _toy_samples(mixture, sched, 600, 100, seed=15)
    posterior = _toy_samples(mixture, sched, 600, 100, seed=17, likelihood=residual, dps_scale=0.15)
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

    metrics = _records()["cpu_cfg_levels"]["metrics"]
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


def _conditioning_figures(out: Path) -> list[Path]:
    return [
        _save(_cfg(), out / "cfg.png"),
        _save(_class_conditional(), out / "class_conditional.png"),
        _save(_classifier_gradient(), out / "classifier_gradient.png"),
        _save(_data_consistency_toy(), out / "data_consistency_toy.png"),
        _save(_dps_toy(), out / "dps_toy.png"),
        _save(_cfg_record(), out / "cfg_record.png"),
    ]


# ----------------------------------------------------------------------------------------------- architectures


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

    x = _slice()[0, 0]
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

    records = _records()
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


def _architectures_figures(out: Path) -> list[Path]:
    return [
        _save(_timestep_embedding(), out / "timestep_embedding.png"),
        _save(_patches(), out / "patches.png"),
        _save(_sampling_cost_record(), out / "sampling_cost_record.png"),
    ]


# ------------------------------------------------------------------------------------------------ applications


def _mri_undersampling():
    from dimedia_course.applications.reconstruction import MRIOperator, cartesian_mask, fft2c

    x = _slice()
    op = MRIOperator(cartesian_mask(64, 4, generator=make_generator(12)))
    kspace = fft2c(x.to(torch.complex64))[0, 0].abs()
    images = [x[0, 0], (kspace + 1e-3).log(), op.mask[0, 0], op.zero_filled(op(x))[0, 0]]
    titles = ["image x", "log |F x| (k-space)", "mask M (4x)", "zero-filled"]
    return _image_panels(images, titles, cmaps={1: "magma"}, vranges=[(-1, 1), None, (0, 1), (-1, 1)])


def _data_consistency():
    """One data-consistency step on a blurred estimate: the measured k-space lines are put back."""
    from dimedia_course.applications.anomaly import gaussian_smooth
    from dimedia_course.applications.reconstruction import MRIOperator, cartesian_mask

    x = _slice()
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


def _applications_figures(out: Path, applications_figures) -> list[Path]:
    written = [
        _save(_level_classes(), out / "level_classes.png"),
        _save(_mri_undersampling(), out / "mri_undersampling.png"),
        _save(_data_consistency(), out / "data_consistency.png"),
        _save(_ct_sparse_view(), out / "ct_sparse_view.png"),
        _save(_lesion_data(), out / "lesion_data.png"),
    ]
    source = Path(applications_figures) if applications_figures else None
    if source is not None and source.is_dir():
        for png in sorted(source.glob("*.png")):
            written.append(Path(shutil.copy(png, out / f"applications_{png.name}")))
    return written


# ------------------------------------------------------------------------------------------------- limitations

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
        for name, record in _records().items()
        for key, m in record["metrics"].items()
    ]


def _compute_record():
    import matplotlib.pyplot as plt

    records = _records()
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


def _limitations_figures(out: Path) -> list[Path]:
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
        _save(_compute_record(), out / "compute_record.png"),
        _save(_volume_stack(), out / "volume_stack.png"),
        _save(memorisation, out / "memorisation_record.png"),
        _save(quality, out / "quality_record.png"),
    ]


# -------------------------------------------------------------------------------------------------------- entry


def write_slide_figures(out_dir, applications_figures=None) -> list[Path]:
    """Draw the slide figures into ``out_dir`` (one function per deck) and return their paths; the PNGs of
    ``applications_figures`` (the applications benchmark's figures) are copied as ``applications_<name>.png``."""
    import matplotlib

    matplotlib.use("Agg")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for deck in (
        _intro_figures,
        _ddpm_figures,
        _understanding_figures,
        _sampling_figures,
        _flow_matching_figures,
        _conditioning_figures,
        _architectures_figures,
        _limitations_figures,
    ):
        written += deck(out)
    written += _applications_figures(out, applications_figures)
    return written
