"""The reverse-process sampling loop (Ho et al. 2020, Algorithm 2; Song et al. 2021, eq. 12).

Start from ``x_T ~ N(0, I)`` and repeatedly ask the network for its prediction at the current
timestep and let the scheduler take one step towards the data::

    for t in scheduler.timesteps[start_index:]:          # descending
        out = model(cat([x, condition]), t, y)          # or its classifier-free guided version
        x, x0_hat = scheduler.step(out, t, x)

This is the only sampling loop of the package: plain sampling, partial runs from an intermediate
level (``start_index``), data consistency on the clean-image estimate (``x0_correction``) and
diffusion posterior sampling (``likelihood``, ``dps_scale``) are hooks of :func:`sample`, and every
update is the scheduler's ``step``. Works with :class:`~dimedia_course.schedulers.DDPMScheduler`,
:class:`~dimedia_course.schedulers.DDIMScheduler`, :class:`~dimedia_course.schedulers.RFlowScheduler`
(rectified flow: ``step`` is an Euler step of the velocity) and (without the x0 hooks) MONAI's schedulers.

:func:`langevin_step` is one step of Langevin dynamics with a given score, the sampler of score-based models
(Song & Ermon 2019), for chains at a fixed noise level (no timesteps, no scheduler).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import torch

from dimedia_course.guidance import classifier_free_guidance
from dimedia_course.validation import check_condition, check_labels, model_device

__all__ = ["sample", "set_inference_timesteps", "resolve_null_label", "denoiser_output", "langevin_step"]


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


def langevin_step(
    x: torch.Tensor, score: torch.Tensor, step_size: float, generator: torch.Generator | None = None, noise=None
) -> torch.Tensor:
    """One step of unadjusted Langevin dynamics, ``x + (eta / 2) score + sqrt(eta) z`` with ``z ~ N(0, I)``
    (Song & Ermon 2019, eq. 4; Welling & Teh 2011). ``score`` is ``grad log p(x)`` shaped like ``x``; ``noise``
    fixes ``z`` (else it is drawn from ``generator``)."""
    if score.shape != x.shape:
        raise ValueError(f"score must have the shape of x {tuple(x.shape)}, got {tuple(score.shape)}")
    if not step_size > 0:
        raise ValueError(f"step_size must be > 0, got {step_size!r}")
    if noise is None:
        gen_device = generator.device if generator is not None else x.device
        noise = torch.randn(x.shape, generator=generator, device=gen_device, dtype=x.dtype).to(x.device)
    return x + 0.5 * step_size * score + step_size**0.5 * noise


def _pick_device(device, x_T, model) -> torch.device:
    if x_T is not None:
        return x_T.device
    if device is not None:
        return torch.device(device)
    return model_device(model)


def set_inference_timesteps(scheduler, num_inference_steps: int | None, sample_shape=None) -> list:
    """Call ``scheduler.set_timesteps(num_inference_steps)`` keeping the spacing the user chose (``None``:
    keep the scheduler's current timesteps) and return the descending timesteps as Python numbers (ints;
    floats for a rectified-flow scheduler with continuous timesteps). A scheduler whose ``set_timesteps``
    takes ``input_img_size_numel`` (rectified flow's resolution shift) gets the voxels of ``sample_shape``."""
    if num_inference_steps is not None:
        spacing = getattr(scheduler, "timestep_spacing", None)
        params = inspect.signature(scheduler.set_timesteps).parameters
        kwargs = {}
        if spacing is not None and "timestep_spacing" in params:
            kwargs["timestep_spacing"] = spacing
        if sample_shape is not None and "input_img_size_numel" in params:
            kwargs["input_img_size_numel"] = math.prod(sample_shape[2:])
        scheduler.set_timesteps(num_inference_steps, **kwargs)
    ts = scheduler.timesteps
    return [float(t) for t in ts] if ts.dtype.is_floating_point else [int(t) for t in ts]


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
    start_index: int = 0,
    x0_correction: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
    likelihood: Callable[[torch.Tensor], torch.Tensor] | None = None,
    dps_scale: float = 1.0,
    progress: bool = False,
    return_trajectory: bool = False,
    null_label: int | None = None,
):
    """Generate samples by running the reverse process (Ho et al. 2020, Alg. 2; Song et al. 2021).

    Args:
        model: denoiser ``model(x, t, y=None)``; ``t`` is passed as a ``(B,)`` LongTensor.
        scheduler: a DDPM / DDIM scheduler (ours or MONAI's; the x0 hooks need ours).
        shape: ``(B, C, H, W)`` (or ``(B, C, D, H, W)``) of the samples; not needed when ``x_T`` is given.
        x_T: where to start: noise at ``scheduler.timesteps[start_index]`` (e.g. from
            :func:`~dimedia_course.inversion.ddim_invert`).
        y: optional class labels ``(B,)``.
        guidance_scale: classifier-free guidance scale ``s`` in ``out_u + s (out_c - out_u)`` (needs ``y``;
            ``s = 1`` is the plain conditional model; see :func:`~dimedia_course.guidance.classifier_free_guidance`).
            The null label is ``null_label`` or ``model.num_classes``.
        num_inference_steps: call ``scheduler.set_timesteps`` first, keeping its spacing (``None``: use the
            scheduler's current timesteps).
        eta: DDIM stochasticity (Song et al. 2021, eq. 16); only for DDIM-type schedulers.
        generator: random generator for ``x_T`` and the per-step noise.
        device: where to sample when ``x_T`` is not given (default: the model's device).
        concat_condition: ``(B, Cc, H, W)`` image concatenated to ``x`` before every model call.
        start_index: skip the first ``start_index`` timesteps: a partial run from the intermediate level
            ``scheduler.timesteps[start_index]`` (SDEdit, Meng et al. 2022; anomaly detection, Wolleb et al. 2022).
        x0_correction: ``x0_correction(x0_hat, t) -> x0`` replaces the clean-image estimate before the
            scheduler's step (data consistency: Chung & Ye 2022; Chung et al. 2024).
        likelihood: ``likelihood(x0_hat) -> scalar`` loss ``L``; after each step ``x_{t-1} <- x_{t-1} - dps_scale
            * grad_{x_t} L`` (the gradient through the network; diffusion posterior sampling, Chung et al. 2023,
            Alg. 1). With ``L = ||y - A(x0_hat)||_2`` (the norm, as in the official code) this is Alg. 1 on the
            squared norm with ``zeta_t = dps_scale / (2 ||y - A(x0_hat)||)``.
        progress: show a tqdm progress bar.
        return_trajectory: also return the list ``[x_start, ..., x_0]`` (on the CPU), of length
            ``len(scheduler.timesteps) - start_index + 1``.

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
    hooks = x0_correction is not None or likelihood is not None
    if hooks and ("pred_original_sample" not in step_params or not hasattr(scheduler, "predict_original_sample")):
        raise TypeError(
            "x0_correction / likelihood need a dimedia_course scheduler (step(..., pred_original_sample=...)), "
            f"got {type(scheduler).__name__}"
        )
    for name, hook in (("x0_correction", x0_correction), ("likelihood", likelihood)):
        if hook is not None and not callable(hook):
            raise TypeError(f"{name} must be callable, got {type(hook).__name__}")

    dev = _pick_device(device, x_T, model)
    if x_T is None:
        gen_device = generator.device if generator is not None else dev
        x = torch.randn(shape, generator=generator, device=gen_device).to(dev)
    else:
        x = x_T.clone()
    if y is not None:
        y = check_labels(y, x)
    cond = check_condition(concat_condition, x)
    timesteps = set_inference_timesteps(scheduler, num_inference_steps, tuple(x.shape))
    if isinstance(start_index, bool) or not isinstance(start_index, int) or not 0 <= start_index < len(timesteps):
        raise ValueError(f"start_index must be an int in [0, {len(timesteps) - 1}], got {start_index!r}")

    step_kwargs = {"generator": generator}
    if "eta" in step_params:
        step_kwargs["eta"] = eta
    steps = timesteps[start_index:]
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="sampling")

    trajectory = [x.detach().cpu()] if return_trajectory else None
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        for t in steps:
            t_batch = torch.full((x.shape[0],), t, dtype=torch.long if isinstance(t, int) else x.dtype, device=x.device)
            grad = None
            if likelihood is None:
                out = denoiser_output(model, x, t_batch, y, guidance_scale, null_label, cond)
            else:  # DPS: the gradient of the likelihood of x0_hat(x_t) with respect to x_t
                with torch.enable_grad():
                    x_in = x.detach().requires_grad_(True)
                    out = denoiser_output(model, x_in, t_batch, y, guidance_scale, null_label, cond)
                    x0 = scheduler.predict_original_sample(out, t, x_in)
                    (grad,) = torch.autograd.grad(likelihood(x0), x_in)
                out, x0 = out.detach(), x0.detach()
            if hooks:
                if likelihood is None:
                    x0 = scheduler.predict_original_sample(out, t, x)
                if x0_correction is not None:
                    x0 = x0_correction(x0, t)
                x, _ = scheduler.step(out, t, x, pred_original_sample=x0, **step_kwargs)
            else:
                x, _ = scheduler.step(out, t, x, **step_kwargs)
            if grad is not None:
                x = x - dps_scale * grad
            if trajectory is not None:
                trajectory.append(x.detach().cpu())
    finally:
        if was_training:
            model.train()
    return (x, trajectory) if return_trajectory else x
