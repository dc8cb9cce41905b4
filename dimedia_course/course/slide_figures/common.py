"""The helpers that several decks' figures share: saving a figure, the toy mixtures, 1D grids and exact
densities, the toy samplers (exact denoisers, the DDIM / DDPM schedulers, the shared DDPM run, the few-step W1
errors), the central MNI152 slice, log-axis and noise-axis tick helpers, and the records of the shipped checkpoints.

A helper that one deck alone uses stays private in that deck's module. The two cached runs (:func:`toy_ddpm_run`,
:func:`few_step_w1`) live here so that every deck that draws them shares one computation.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import torch

from dimedia_course import make_generator
from dimedia_course.toy import GaussianMixture

__all__ = [
    "save_figure",
    "mixture_1d",
    "ring_mixture",
    "grid_1d",
    "mixture_density",
    "trajectory_paths",
    "toy_denoiser",
    "ddim_scheduler",
    "ddpm_scheduler",
    "toy_samples",
    "mni152_slice",
    "checkpoint_records",
    "plain_log_ticks",
    "noise_left",
    "toy_ddpm_run",
    "few_step_w1",
]


def save_figure(fig, path: Path) -> Path:
    """Save ``fig`` to ``path`` (dpi 100, tight bounding box), close it and return ``path``."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def mixture_1d() -> GaussianMixture:
    """The 1D three-mode mixture of the slides (the flow-matching chapter's ``MIXTURE``)."""
    return GaussianMixture([[-2.0], [0.0], [2.0]], std=0.15, weights=[0.3, 0.2, 0.5])


def ring_mixture() -> GaussianMixture:
    """Six 2D components on a circle with unequal weights."""
    angles = torch.arange(6, dtype=torch.float64) * math.pi / 3
    return GaussianMixture(2 * torch.stack([angles.cos(), angles.sin()], 1), 0.25, [3, 1, 2, 1.5, 1.5, 1])


def grid_1d(lo: float = -3.5, hi: float = 3.5, n: int = 400) -> torch.Tensor:
    """``n`` points from ``lo`` to ``hi`` as a float64 column ``(n, 1)``."""
    return torch.linspace(lo, hi, n, dtype=torch.float64)[:, None]


def mixture_density(mixture: GaussianMixture, x: torch.Tensor, scale=1.0, noise_var=0.0) -> torch.Tensor:
    """The exact density of ``scale x_0 + sqrt(noise_var) eps`` at the points ``x`` (``GaussianMixture.log_joint``)."""
    return torch.logsumexp(mixture.log_joint(x, scale, noise_var), dim=1).exp()


def trajectory_paths(trajectory) -> torch.Tensor:
    """A trajectory of 1D samples ``[(B, 1, 1, 1), ...]`` as a ``(steps + 1, B)`` tensor."""
    return torch.stack(trajectory)[:, :, 0, 0, 0]


def toy_denoiser(mixture: GaussianMixture, scheduler, prediction_type: str = "epsilon"):
    """The exact denoiser of ``mixture`` at the noise levels of ``scheduler`` (``toy.ToyDenoiser``)."""
    from dimedia_course.toy import ToyDenoiser

    return ToyDenoiser(mixture, scheduler.alphas_cumprod, prediction_type)


def ddim_scheduler():
    """The 1000-step DDIM scheduler of the toy figures (no clipping)."""
    from dimedia_course.schedulers import DDIMScheduler

    return DDIMScheduler(1000, clip_sample=False)


def ddpm_scheduler():
    """The 1000-step DDPM scheduler of the toy figures (no clipping)."""
    from dimedia_course.schedulers import DDPMScheduler

    return DDPMScheduler(1000, clip_sample=False)


def toy_samples(mixture: GaussianMixture, scheduler, n: int, steps: int, seed: int, **kwargs) -> torch.Tensor:
    """``n`` samples ``(n, D)`` of the one sampling loop with the exact denoiser of ``mixture``."""
    from dimedia_course.sampling import sample

    model = toy_denoiser(mixture, scheduler)
    shape = (n, mixture.dim, 1, 1)
    return sample(model, scheduler, shape, num_inference_steps=steps, generator=make_generator(seed), **kwargs).view(
        n, -1
    )


def mni152_slice(size: int = 64, axis: str = "axial") -> torch.Tensor:
    """The central slice of the MNI152 template along ``axis``, ``(1, 1, size, size)``, no augmentation."""
    from dimedia_course.data import mni152_slices

    return mni152_slices(n=1, size=size, axis=axis, slice_range=(0.5, 0.5), augment=False)


def checkpoint_records() -> dict:
    """The measured records of the shipped checkpoints, ``name -> record``."""
    from dimedia_course.pretrained import CHECKPOINT_DIR

    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(CHECKPOINT_DIR.glob("*.json"))}


def plain_log_ticks(ax, xticks=None, yticks=None) -> None:
    """No labels on the minor ticks of log axes; plain number labels at ``xticks`` and ``yticks``."""
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    if xticks is not None:
        ax.set_xticks(list(xticks), [f"{x:g}" for x in xticks])
    if yticks is not None:
        ax.set_yticks(list(yticks), [f"{y:g}" for y in yticks])


def noise_left(ax, label: str = "t / T (noise on the left, data on the right)") -> None:
    """Reverse the x axis of ``ax`` (noise on the left) and label it ``label``."""
    ax.invert_xaxis()
    ax.set_xlabel(label)


@functools.lru_cache(maxsize=1)
def toy_ddpm_run(n: int = 2000):
    """DDPM (1000 steps) with the exact denoiser of the 1D mixture: the start ``x_T`` and the ``(1001, n)`` paths."""
    from dimedia_course.sampling import sample

    sched = ddpm_scheduler()
    x_T = torch.randn(n, 1, 1, 1, generator=make_generator(6))
    model = toy_denoiser(mixture_1d(), sched)
    _, traj = sample(
        model, sched, x_T=x_T, num_inference_steps=1000, generator=make_generator(7), return_trajectory=True
    )
    return x_T, trajectory_paths(traj)


@functools.cache
def few_step_w1(kind: str, steps: int) -> float:
    """1D Wasserstein distance of 4000 samples to 20,000 draws of the 1D mixture (the flow-matching chapter's
    table): ``kind`` is ``"ddpm"`` / ``"ddim"`` (exact denoiser, trailing spacing) or ``"flow"`` (Euler, exact
    velocity)."""
    from scipy.stats import wasserstein_distance

    from dimedia_course.sampling import sample
    from dimedia_course.schedulers import RFlowScheduler
    from dimedia_course.toy import ToyFlowModel

    mixture = mixture_1d()
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
        x = toy_samples(mixture, ddpm_scheduler() if kind == "ddpm" else ddim_scheduler(), 4000, steps, seed=3)
    return float(wasserstein_distance(x.flatten().numpy(), reference.flatten().numpy()))
