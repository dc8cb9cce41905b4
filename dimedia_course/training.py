"""Training loop for denoising diffusion models.

Algorithm 1 of Ho et al. 2020: repeat { x_0 ~ data, t ~ U{0..T-1}, eps ~ N(0, I); gradient step on
|| target - model(x_t, t) ||^2 } with ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` (eq. 4) and
the target ``eps``, ``x_0`` or ``v`` (Salimans & Ho 2022) chosen by ``prediction_type``. The loss
itself is :func:`dimedia_course.losses.diffusion_loss`.

Two additions used in the course:

- **classifier-free guidance** training (Ho & Salimans 2022, Algorithm 1): labels are replaced by
  the null label ``num_classes`` with probability ``p_uncond`` so that one network learns the
  conditional and the unconditional model;
- **image-conditioned** models (e.g. diffusion segmentation, Wolleb et al. 2022 MIDL): a condition
  image is concatenated to ``x_t`` along channels (``concat_condition``).

An exponential moving average of the weights (Ho et al. 2020, app. B; :func:`ema_update`) is optional.
Each step draws from :func:`step_generator` its batch (:func:`batch_indices`), timesteps, noise and dropped
labels (:func:`batch_loss`), then updates the weights (:func:`optimisation_step`: backward, clipping, optimiser
step, EMA); the command-line runs of :mod:`dimedia_course.train` do exactly the same, so a notebook run and a
command-line run with the same seed, data and batch draw the same numbers.
Checkpoints: :func:`save_checkpoint` / :func:`load_checkpoint` (see :mod:`dimedia_course.checkpoint`).
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from dimedia_course.checkpoint import load_checkpoint, save_checkpoint
from dimedia_course.device import get_device, make_generator
from dimedia_course.guidance import drop_labels
from dimedia_course.losses import diffusion_loss, flow_matching_loss


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """One step of the exponential moving average of the weights, in place on ``ema``:
    ``theta_ema <- decay * theta_ema + (1 - decay) * theta`` for every parameter, and buffers (e.g. BatchNorm
    running statistics) copied from ``model``. This is the EMA of Ho et al. 2020 (app. B, decay 0.9999) and
    Karras et al. 2022 (EDM); ``ema`` is a copy of ``model`` (same parameters and buffers, in the same order)."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


def _split_batch(batch, concat_condition):
    """Return ``(x, y, condition)`` from a DataLoader batch (tensor, tuple/list or dict)."""
    if torch.is_tensor(batch):
        return batch, None, None
    if isinstance(batch, dict):
        x = batch.get("image", batch.get("x"))
        if x is None:
            raise ValueError("dict batches need an 'image' (or 'x') entry")
        y = batch.get("label", batch.get("y"))
        cond = batch.get("condition")
        return x, y, cond
    if isinstance(batch, (tuple, list)):
        if concat_condition is True:
            if len(batch) == 2:
                return batch[0], None, batch[1]
            if len(batch) == 3:
                return batch[0], batch[1], batch[2]
            raise ValueError("with concat_condition=True batches must be (x, condition) or (x, y, condition)")
        if len(batch) == 1:
            return batch[0], None, None
        if len(batch) == 2:
            return batch[0], batch[1], None
        raise ValueError(f"batches must be x or (x, y); got a sequence of length {len(batch)}")
    raise TypeError(f"unsupported batch type {type(batch).__name__}")


def _loader_batches(loader, concat_condition):
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield _split_batch(batch, concat_condition)
        if empty:
            raise ValueError("the DataLoader yielded no batches")


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random generator of optimiser step ``step`` of a run seeded ``seed``. Every draw of the step comes from
    it, in the order of :func:`batch_loss` (batch indices first), so a run resumed at any step and every DDP
    process draw the same numbers as one uninterrupted process: the one rule of both training loops
    (:func:`train_diffusion` and :func:`dimedia_course.train.train`)."""
    return make_generator(seed * 1_000_003 + step)


def batch_indices(n: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """Indices ``(batch_size,)`` of one mini-batch of ``n`` in-memory images, drawn uniformly with replacement
    (the ``x_0 ~ data`` of Ho et al. 2020, Algorithm 1), the first draw of a step's generator."""
    return torch.randint(0, n, (batch_size,), generator=generator)


def batch_loss(
    model,
    x0: torch.Tensor,
    scheduler,
    prediction_type: str,
    generator: torch.Generator,
    *,
    batch_size: int | None = None,
    share: slice | None = None,
    y: torch.Tensor | None = None,
    p_uncond: float = 0.0,
    num_classes: int | None = None,
    concat_condition: torch.Tensor | None = None,
    timestep_reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """The loss of one optimiser step of both training loops, after :func:`batch_indices`. From ``generator``,
    for the global batch of ``batch_size`` (default: ``x0``'s), in this order: the timesteps (``t ~ U{0..T-1}``,
    or a flow scheduler's ``sample_timesteps`` of ``timestep_reference``, default ``x0``), the noise
    ``eps ~ N(0, I)`` shaped like ``x0``'s samples, and, for a class-conditional model, the labels ``y`` dropped
    to the null class with probability ``p_uncond`` (Ho & Salimans 2022, Algorithm 1). ``x0``, ``y`` and
    ``concat_condition`` are this process's ``share`` of the global batch (default: all of it; DDP processes
    pass their slice, so N processes see the draws of one). The loss is :func:`dimedia_course.losses.diffusion_loss`
    (Ho et al. 2020, eq. 14) or, for a rectified-flow scheduler, :func:`dimedia_course.losses.flow_matching_loss`."""
    flow = hasattr(scheduler, "sample_timesteps")
    size = x0.shape[0] if batch_size is None else batch_size
    share = slice(0, size) if share is None else share
    if flow:
        t = scheduler.sample_timesteps(x0 if timestep_reference is None else timestep_reference, generator=generator)
    else:
        ac = getattr(scheduler, "alphas_cumprod", scheduler)
        t = torch.randint(0, ac.shape[0], (size,), generator=generator)
    noise = torch.randn((size, *x0.shape[1:]), generator=generator)
    if y is not None:
        y = torch.as_tensor(y).long()
        if num_classes is not None:
            y = drop_labels(y, p_uncond, num_classes, generator=generator)
    device = x0.device
    y_mine = None if y is None else y[share].to(device)
    t_mine, noise_mine = t[share].to(device), noise[share].to(device)
    if flow:
        return flow_matching_loss(
            model, x0, scheduler, y=y_mine, t=t_mine, noise=noise_mine, concat_condition=concat_condition
        )
    return diffusion_loss(
        model, x0, scheduler, prediction_type, y=y_mine, t=t_mine, noise=noise_mine, concat_condition=concat_condition
    )


LR_SCHEDULES = ("constant", "cosine")


def cosine_lr(k: int, total: int, lr: float, min_ratio: float = 0.0) -> float:
    """Cosine learning-rate decay without restarts (Loshchilov & Hutter 2017, SGDR, eq. 5):
    ``lr_k = lr_min + (lr - lr_min) (1 + cos(pi k / K)) / 2`` with ``lr_min = min_ratio * lr``; the one formula of
    both :func:`train_diffusion` (``min_ratio=0.05``) and ``dimedia_course.train`` (``train.lr_min_ratio``)."""
    lr_min = min_ratio * lr
    return lr_min + (lr - lr_min) * 0.5 * (1 + math.cos(math.pi * k / total))


def optimisation_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    parameters,
    *,
    grad_clip: float | None = None,
    scaler: torch.amp.GradScaler | None = None,
    ema: nn.Module | None = None,
    model: nn.Module | None = None,
    ema_decay: float | None = None,
) -> None:
    """One update of both training loops (:func:`train_diffusion` and :func:`dimedia_course.train.train`):
    clear the gradients, back-propagate ``loss`` (scaled by an AMP ``scaler`` when given), clip the gradient norm
    of ``parameters`` to ``grad_clip``, step the optimiser, then move ``ema`` towards ``model`` (:func:`ema_update`).
    ``parameters`` must be a list (it is iterated twice)."""
    optimizer.zero_grad(set_to_none=True)
    (loss if scaler is None else scaler.scale(loss)).backward()
    if grad_clip is not None:
        if scaler is not None:
            scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(parameters, grad_clip)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    if ema is not None:
        ema_update(ema, model, ema_decay)


def train_diffusion(
    model: nn.Module,
    data,
    scheduler,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int = 16,
    lr: float = 2e-4,
    prediction_type: str | None = None,
    p_uncond: float = 0.0,
    labels: torch.Tensor | None = None,
    num_classes: int | None = None,
    device=None,
    seed: int = 0,
    generator: torch.Generator | None = None,
    progress: bool = True,
    concat_condition=None,
    grad_clip: float | None = 1.0,
    ema_decay: float | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    lr_schedule: str = "constant",
) -> dict:
    """Train a denoiser with the simple diffusion loss (Ho et al. 2020, Algorithm 1 / eq. 14).

    Args:
        model: network called as ``model(x, t, y=None)``.
        data: a tensor of images ``(N, C, H, W)`` in ``[-1, 1]``, or a DataLoader yielding ``x``,
            ``(x, y)``, dicts ``{"image", "label", "condition"}``, or with ``concat_condition=True``
            ``(x, condition)`` / ``(x, y, condition)``.
        scheduler: a DDPM/DDIM scheduler, a NoiseSchedule or a ``(T,)`` tensor of cumulative alphas.
        steps: number of optimiser steps; or
        epochs: number of passes over ``data`` (exactly one of ``steps``/``epochs``); for tensor data an
            epoch is ``ceil(N / batch_size)`` steps (batches are drawn with replacement, :func:`batch_indices`).
        batch_size: mini-batch size for tensor data.
        lr: Adam learning rate.
        prediction_type: ``"epsilon"``, ``"sample"`` or ``"v_prediction"``; default: the
            scheduler's ``prediction_type`` (``"epsilon"`` if it has none).
        p_uncond: probability of replacing a label by the null label (classifier-free guidance,
            Ho & Salimans 2022); needs labels and ``num_classes``.
        labels: ``(N,)`` integer labels for tensor ``data``.
        num_classes: number of classes (default ``model.num_classes``); the null label is ``num_classes``.
        device: training device (default :func:`dimedia_course.get_device`); model and batches are moved there.
        seed: the run's seed: step ``k`` draws its batch, timesteps, noise and label dropout from
            :func:`step_generator` ``(seed, k)``, the rule of ``dimedia_course.train`` too (if ``generator`` is
            given, the seed is drawn from it instead).
        progress: show a tqdm progress bar.
        concat_condition: ``(N, Cc, H, W)`` condition images aligned with tensor ``data``, or ``True``
            for DataLoaders yielding the condition; concatenated to ``x_t`` before the model call.
        grad_clip: clip the gradient norm to this value (``None`` = no clipping).
        ema_decay: keep an exponential moving average of the weights with this decay (e.g. 0.999).
        optimizer: continue with an existing optimizer instead of creating Adam.
        lr_schedule: ``"constant"`` (default) or ``"cosine"``: cosine decay of the learning rate over the
            run down to 5 % of its start value (Loshchilov & Hutter 2017, SGDR eq. 5 without restarts;
            used by Nichol & Dhariwal 2021); it helps the short CPU runs of the applications.

    Returns:
        dict with ``"loss"`` (per-step losses), ``"steps"``, ``"seconds"``, ``"prediction_type"``,
        ``"optimizer"`` and, with ``ema_decay``, ``"ema_model"`` (a copy of ``model`` with averaged weights).
        The model is left in ``eval()`` mode.
    """
    from tqdm.auto import tqdm

    from dimedia_course.validation import check_positive_int, check_prediction_type

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps= or epochs=")
    check_positive_int(batch_size, "batch_size")
    if not 0.0 <= p_uncond <= 1.0:
        raise ValueError(f"p_uncond must be in [0, 1], got {p_uncond!r}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
    if ema_decay is not None and not 0.0 < ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in (0, 1), got {ema_decay!r}")
    flow = hasattr(scheduler, "sample_timesteps")  # rectified flow: losses.flow_matching_loss (velocity target)
    alphas_cumprod = getattr(scheduler, "alphas_cumprod", scheduler)
    if not flow and (not torch.is_tensor(alphas_cumprod) or alphas_cumprod.ndim != 1):
        raise TypeError("scheduler must be a scheduler / NoiseSchedule with .alphas_cumprod or a (T,) tensor")
    if prediction_type is None:
        prediction_type = getattr(scheduler, "prediction_type", "epsilon")
    if flow and prediction_type != scheduler.prediction_type:
        raise ValueError(f"a rectified-flow scheduler trains prediction_type={scheduler.prediction_type!r} only")
    prediction_type = prediction_type if flow else check_prediction_type(prediction_type)
    if num_classes is None:
        num_classes = getattr(model, "num_classes", None)

    device = get_device(device)
    if generator is not None:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))

    # ---- the stream of mini-batches
    if torch.is_tensor(data):
        if data.ndim < 3:
            raise ValueError(f"data must be images shaped (N, C, ...), got {tuple(data.shape)}")
        n = data.shape[0]
        if labels is not None:
            labels = torch.as_tensor(labels).long()
            if labels.shape != (n,):
                raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        condition = None
        if concat_condition is not None:
            if (
                not torch.is_tensor(concat_condition)
                or concat_condition.shape[0] != n
                or concat_condition.shape[2:] != data.shape[2:]
            ):
                raise ValueError(
                    f"concat_condition must be a tensor shaped ({n}, Cc, "
                    f"{', '.join(map(str, data.shape[2:]))}) aligned with data"
                )
            condition = concat_condition
        batches = None
        size = min(batch_size, n)
        steps_per_epoch = math.ceil(n / size)
    elif isinstance(data, DataLoader):
        if labels is not None:
            raise ValueError("labels= is only for tensor data; a DataLoader should yield (x, y)")
        if concat_condition is not None and concat_condition is not True:
            raise ValueError("with a DataLoader, concat_condition must be None or True (the loader yields it)")
        batches = _loader_batches(data, concat_condition)
        steps_per_epoch = len(data) if epochs is not None else 0
    else:
        raise TypeError(f"data must be a tensor of images or a DataLoader, got {type(data).__name__}")
    total = steps if steps is not None else epochs * steps_per_epoch
    if not isinstance(total, int) or total < 1:
        raise ValueError(f"steps/epochs must give a positive number of steps, got steps={steps!r}, epochs={epochs!r}")
    if p_uncond > 0 and num_classes is None:
        raise ValueError("p_uncond > 0 needs a class-conditional model (model.num_classes) or num_classes=")

    model.to(device).train()
    alphas_cumprod = scheduler if flow else alphas_cumprod.to(device)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    lr_decay = None
    if lr_schedule == "cosine":
        lr_decay = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: cosine_lr(k, total, 1.0, 0.05))
    ema = None
    if ema_decay is not None:
        ema = copy.deepcopy(model).eval().requires_grad_(False)

    parameters = list(model.parameters())
    history = {"loss": [], "steps": total, "prediction_type": prediction_type}
    start = time.perf_counter()
    bar = tqdm(range(total), disable=not progress, desc="training")
    for step in bar:
        g = step_generator(seed, step)
        if batches is None:  # in-memory tensors: the batch is the first draw of the step
            idx = batch_indices(n, size, g)
            x0, y, cond = (
                data[idx],
                None if labels is None else labels[idx],
                None if condition is None else condition[idx],
            )
        else:
            x0, y, cond = next(batches)
        x0 = x0.to(device).float()
        if cond is not None:
            cond = cond.to(device).float()
        loss = batch_loss(
            model,
            x0,
            alphas_cumprod,
            prediction_type,
            g,
            y=y,
            p_uncond=p_uncond,
            num_classes=num_classes,
            concat_condition=cond,
        )
        optimisation_step(loss, optimizer, parameters, grad_clip=grad_clip, ema=ema, model=model, ema_decay=ema_decay)
        if lr_decay is not None:
            lr_decay.step()
        value = float(loss.detach())
        history["loss"].append(value)
        if progress:
            bar.set_postfix(loss=f"{value:.4f}")
    history["seconds"] = time.perf_counter() - start
    history["optimizer"] = optimizer
    if ema is not None:
        history["ema_model"] = ema
    model.eval()
    return history


__all__ = [
    "train_diffusion",
    "step_generator",
    "batch_indices",
    "batch_loss",
    "optimisation_step",
    "ema_update",
    "cosine_lr",
    "save_checkpoint",
    "load_checkpoint",
]
