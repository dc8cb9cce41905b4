"""Figures of the DDPM deck (``book/slides/ddpm.md``): noise schedules, the forward process on brain slices,
training slices, exact noisy marginals, posterior coefficients and variances, reverse-process marginals and 2D
snapshots, the bound's weights, the three targets."""

from __future__ import annotations

from pathlib import Path

import torch

from dimedia_course import make_generator
from dimedia_course.course.slide_figures.common import (
    ddpm_scheduler,
    grid_1d,
    mixture_1d,
    mixture_density,
    mni152_slice,
    plain_log_ticks,
    ring_mixture,
    save_figure,
    toy_ddpm_run,
    toy_denoiser,
)

__all__ = ["figures"]


def _noisy_marginals(mixture, alphas_cumprod):
    """Exact densities of q(x_t) for a 1D mixture (``GaussianMixture.log_joint``: variance a^2 s^2 + 1 - alphabar)."""
    import matplotlib.pyplot as plt

    x = grid_1d(-4, 4)
    fig, ax = plt.subplots(figsize=(8, 3))
    for t in (0, 100, 250, 500, 999):
        ab = torch.as_tensor(alphas_cumprod[t], dtype=torch.float64)
        ax.plot(x[:, 0].numpy(), mixture_density(mixture, x, ab.sqrt(), 1 - ab).numpy(), label=f"t = {t}")
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
    plain_log_ticks(ax, (1, 10, 100, 1000))
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
        plain_log_ticks(ax)
    fig.tight_layout()
    return fig


def _reverse_marginals(mixture, alphas_cumprod):
    """Histograms of the DDPM chain (exact denoiser) at five timesteps over the exact q(x_t)."""
    import matplotlib.pyplot as plt

    _, paths = toy_ddpm_run()
    x = grid_1d()
    fig, axes = plt.subplots(1, 5, figsize=(9, 2), sharey=True)
    for ax, t in zip(axes, (999, 500, 250, 50, -1)):
        xs = paths[999 - t]  # paths[k] is the sample at timestep 999 - k; the last entry is the clean sample
        ab = torch.tensor(1.0 if t < 0 else float(alphas_cumprod[t]), dtype=torch.float64)
        ax.hist(xs.numpy(), bins=60, range=(-3.5, 3.5), density=True, color="C0", alpha=0.5, histtype="stepfilled")
        ax.plot(x[:, 0], mixture_density(mixture, x, ab.sqrt(), 1 - ab), "k", lw=1)
        ax.set_title("t = 0 (output)" if t < 0 else f"t = {t}", fontsize=10)
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def _sampling_snapshots():
    """A 2D DDPM chain (exact denoiser): particles from N(0, I) condense onto the data."""
    import matplotlib.pyplot as plt

    from dimedia_course.sampling import sample

    mixture, sched = ring_mixture(), ddpm_scheduler()
    _, traj = sample(
        toy_denoiser(mixture, sched),
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
    x0 = mni152_slice()
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


def figures(out: Path) -> list[Path]:
    """Draw the DDPM deck's figures into ``out`` and return their paths."""
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
        save_figure(viz.plot_schedules(schedules), out / "schedules.png"),
        save_figure(forward, out / "forward_process.png"),
        save_figure(viz.show_images(data, nrow=8), out / "training_slices.png"),
        save_figure(_noisy_marginals(mixture_1d(), ddpm.alphas_cumprod), out / "noisy_marginals.png"),
        save_figure(_posterior_coefficients(linear), out / "posterior_coefficients.png"),
        save_figure(_reverse_variance(linear), out / "reverse_variance.png"),
        save_figure(_reverse_marginals(mixture_1d(), ddpm.alphas_cumprod), out / "reverse_marginals.png"),
        save_figure(_sampling_snapshots(), out / "sampling_snapshots.png"),
        save_figure(_vlb_weights(linear), out / "vlb_weights.png"),
        save_figure(_training_targets(), out / "training_targets.png"),
        save_figure(_parameterisation_weights(), out / "parameterisation_weights.png"),
    ]
