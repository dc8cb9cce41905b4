"""The reverse-process sampling loop (Ho et al. 2020, Algorithm 2; Song et al. 2021, eq. 12).

Start from ``x_T ~ N(0, I)`` and repeatedly ask the network for its prediction at the current
timestep and let the scheduler take one step towards the data::

    for t in scheduler.timesteps:               # descending
        out = model(cat([x, condition]), t, y)  # or its classifier-free guided version
        x, x0_hat = scheduler.step(out, t, x)

Works with :class:`~dimedia_course.schedulers.DDPMScheduler`,
:class:`~dimedia_course.schedulers.DDIMScheduler` and MONAI's schedulers.
"""

from __future__ import annotations

import inspect

import torch

from dimedia_course.guidance import _check_labels, classifier_free_guidance

__all__ = ["sample", "resolve_null_label", "denoiser_output"]


def resolve_null_label(model, null_label=None) -> int:
    """The unconditional label: ``null_label`` if given, else ``model.num_classes`` (package
    convention), else a clear error."""
    if null_label is not None:
        return int(null_label)
    num_classes = getattr(model, "num_classes", None)
    if num_classes is None:
        raise ValueError(
            "classifier-free guidance needs the null label: the model has no `num_classes` attribute, "
            "so pass null_label=..."
        )
    return int(num_classes)


def denoiser_output(model, x, t_batch, y=None, guidance_scale: float = 1.0, null_label=None, concat_condition=None):
    """One network evaluation as used by the samplers: concatenates ``concat_condition`` along
    channels and applies classifier-free guidance when ``y`` is given and ``guidance_scale != 1``."""
    x_in = x if concat_condition is None else torch.cat([x, concat_condition], dim=1)
    if y is None:
        out = model(x_in, t_batch)
    elif guidance_scale != 1.0:
        out = classifier_free_guidance(model, x_in, t_batch, y, guidance_scale, resolve_null_label(model, null_label))
    else:
        out = model(x_in, t_batch, y)
    return out


def _pick_device(device, x_T, model) -> torch.device:
    if x_T is not None:
        return x_T.device
    if device is not None:
        return torch.device(device)
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    return params[0].device if params else torch.device("cpu")


def _check_condition(concat_condition, x: torch.Tensor):
    if concat_condition is None:
        return None
    if not torch.is_tensor(concat_condition):
        raise TypeError(f"concat_condition must be a tensor, got {type(concat_condition).__name__}")
    if (
        concat_condition.ndim != x.ndim
        or concat_condition.shape[0] != x.shape[0]
        or concat_condition.shape[2:] != x.shape[2:]
    ):
        spatial = ", ".join(str(s) for s in x.shape[2:])
        raise ValueError(
            f"concat_condition must be shaped ({x.shape[0]}, Cc, {spatial}) to match x, "
            f"got {tuple(concat_condition.shape)}"
        )
    return concat_condition.to(device=x.device, dtype=x.dtype)


def _set_timesteps(scheduler, num_inference_steps, device) -> None:
    if num_inference_steps is None:
        return
    kwargs = {}
    spacing = getattr(scheduler, "timestep_spacing", None)
    if spacing is not None:  # keep the spacing the user chose
        kwargs["timestep_spacing"] = spacing
    scheduler.set_timesteps(num_inference_steps, **kwargs)


@torch.no_grad()
def sample(
    model,
    scheduler,
    shape=None,
    *,
    x_T: torch.Tensor | None = None,
    y: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
    num_inference_steps: int | None = None,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    device=None,
    concat_condition: torch.Tensor | None = None,
    progress: bool = False,
    return_trajectory: bool = False,
    null_label: int | None = None,
):
    """Generate samples by running the reverse process (Ho et al. 2020, Alg. 2; Song et al. 2021).

    Args:
        model: denoiser ``model(x, t, y=None)``; ``t`` is passed as a ``(B,)`` LongTensor.
        scheduler: a DDPM / DDIM scheduler (ours or MONAI's).
        shape: ``(B, C, H, W)`` of the samples; not needed when ``x_T`` is given.
        x_T: starting noise (e.g. from :func:`~dimedia_course.inversion.ddim_invert`).
        y: optional class labels ``(B,)``.
        guidance_scale: classifier-free guidance scale (needs ``y``; see
            :func:`~dimedia_course.guidance.classifier_free_guidance`). The null label is
            ``null_label`` or ``model.num_classes``.
        num_inference_steps: call ``scheduler.set_timesteps`` first (keeping its spacing).
        eta: DDIM stochasticity (Song et al. 2021, eq. 16); only for DDIM-type schedulers.
        generator: random generator for ``x_T`` and the per-step noise.
        device: where to sample when ``x_T`` is not given (default: the model's device).
        concat_condition: ``(B, Cc, H, W)`` image concatenated to ``x`` before every model call.
        progress: show a tqdm progress bar.
        return_trajectory: also return the list ``[x_T, x_{t_1}, ..., x_0]`` (on the CPU), of
            length ``len(scheduler.timesteps) + 1``.

    Returns:
        the samples ``x_0`` (and the trajectory when asked). The model is put in eval mode during
        sampling and restored afterwards.
    """
    if x_T is None:
        if shape is None:
            raise ValueError("give either shape=(B, C, H, W) or x_T")
        shape = tuple(int(s) for s in shape)
        if len(shape) < 3 or any(s < 1 for s in shape):
            raise ValueError(f"shape must be (B, C, H, W) with positive sizes, got {shape}")
    else:
        if not torch.is_tensor(x_T) or x_T.ndim < 3:
            raise ValueError("x_T must be a tensor shaped (B, C, H, W)")
        if shape is not None and tuple(shape) != tuple(x_T.shape):
            raise ValueError(f"shape {tuple(shape)} does not match x_T.shape {tuple(x_T.shape)}")
    if guidance_scale != 1.0 and y is None:
        raise ValueError("guidance_scale != 1 needs class labels y (classifier-free guidance)")
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    step_params = inspect.signature(scheduler.step).parameters
    if eta != 0 and "eta" not in step_params:
        raise ValueError(f"eta={eta} is only meaningful for DDIM; {type(scheduler).__name__}.step has no eta")

    dev = _pick_device(device, x_T, model)
    if x_T is None:
        gen_device = generator.device if generator is not None else dev
        x = torch.randn(shape, generator=generator, device=gen_device).to(dev)
    else:
        x = x_T.clone()
    if y is not None:
        y = _check_labels(y, x)
    cond = _check_condition(concat_condition, x)
    _set_timesteps(scheduler, num_inference_steps, dev)

    step_kwargs = {"generator": generator}
    if "eta" in step_params:
        step_kwargs["eta"] = eta
    timesteps = scheduler.timesteps
    if progress:
        from tqdm.auto import tqdm

        timesteps = tqdm(timesteps, desc="sampling")

    trajectory = [x.detach().cpu()] if return_trajectory else None
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        for t in timesteps:
            t_batch = torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)
            out = denoiser_output(model, x, t_batch, y, guidance_scale, null_label, cond)
            x, _ = scheduler.step(out, int(t), x, **step_kwargs)
            if trajectory is not None:
                trajectory.append(x.detach().cpu())
    finally:
        if was_training:
            model.train()
    return (x, trajectory) if return_trajectory else x
