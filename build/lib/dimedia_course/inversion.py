"""Deterministic DDIM inversion: encode an image into the noise that DDIM decodes back to it.

With ``eta = 0`` a DDIM step is a discretised ODE (Song et al. 2021, sec. 4.3)::

    x_{t'} = sqrt(alphabar_{t'}) x0_hat(x_t) + sqrt(1 - alphabar_{t'}) eps(x_t, t)

Running it from the clean image towards noise, over the *ascending* inference timesteps, gives a
latent ``x_T`` that reproduces the image when sampled again (Dhariwal & Nichol 2021, appendix F).
Each inverse step approximates ``eps(x_t, t)`` by ``eps(x_{t'}, t)``, so the round trip error
shrinks as the number of steps grows. Caveats: clipping of ``x0_hat`` (``clip_sample=True``)
breaks invertibility, and with classifier-free guidance ``s > 1`` the guided ODE inverts poorly
(Mokady et al. 2023, "Null-text inversion", sec. 3) - invert with ``guidance_scale = 1``.

Inversion is a building block for image editing and for anomaly detection/counterfactuals in
medical imaging (e.g. Sanchez et al. 2022): encode a patient image, decode it under another label.
"""

from __future__ import annotations

import warnings

import torch

from dimedia_course.sampling import denoiser_output, sample, set_inference_timesteps
from dimedia_course.validation import check_condition, check_labels

__all__ = ["ddim_invert", "ddim_reconstruct"]


def _check_ddim(scheduler) -> None:
    for attr in ("reversed_step", "previous_timestep", "timesteps"):
        if not hasattr(scheduler, attr):
            raise TypeError(
                f"ddim_invert needs dimedia_course.schedulers.DDIMScheduler (missing `{attr}`), "
                f"got {type(scheduler).__name__}"
            )
    if getattr(scheduler, "clip_sample", False):
        warnings.warn(
            "scheduler.clip_sample=True clips the predicted x0 and breaks exact DDIM inversion; "
            "use DDIMScheduler(..., clip_sample=False)",
            UserWarning,
            stacklevel=3,
        )


@torch.no_grad()
def ddim_invert(
    model,
    scheduler,
    x0: torch.Tensor,
    num_inference_steps: int | None = 50,
    y: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
    concat_condition: torch.Tensor | None = None,
    return_trajectory: bool = False,
    null_label: int | None = None,
    stop_index: int = 0,
    model_timestep: str = "next",
):
    """Map clean images ``x0`` to DDIM latents ``x_T`` (Song et al. 2021, eq. 12 with eta = 0,
    run backwards; Dhariwal & Nichol 2021, appendix F).

    The loop mirrors :func:`~dimedia_course.sampling.sample` exactly: for each inference timestep ``t`` in
    ascending order it undoes the step ``t -> scheduler.previous_timestep(t)``, evaluating the
    network at timestep ``t`` as the sampler does. So ``sample(model, scheduler, x_T=ddim_invert(model,
    scheduler, x0, stop_index=k), start_index=k)`` returns ``x0`` exactly for a model whose output does not
    depend on its input (and up to the change of the network output between neighbouring levels otherwise).

    Args:
        model: epsilon/x0/v-predicting denoiser ``model(x, t, y=None)``.
        scheduler: a :class:`~dimedia_course.schedulers.DDIMScheduler` (use ``clip_sample=False``).
        x0: images ``(B, C, H, W)``.
        num_inference_steps: number of steps (``None`` keeps the scheduler's current timesteps).
        y, guidance_scale, null_label: labels and classifier-free guidance (see :func:`sample`).
        concat_condition: ``(B, Cc, H, W)`` image concatenated before every model call.
        return_trajectory: also return ``[x0, ..., x_T]`` (on the CPU).
        stop_index: stop early, at the noise level of ``scheduler.timesteps[stop_index]`` (the inference
            timesteps are descending, so ``0``, the default, inverts all the way to ``x_T`` and larger
            values stop at less noise). Sampling from that level (e.g. the DDIM loop of the anomaly
            application with ``start_index=stop_index``) decodes it back: partial inversion to an
            intermediate level ``t_L`` as in Wolleb et al. 2022 (anomaly detection) and SDEdit-like
            editing, with the deterministic DDIM ODE of Song et al. 2021, sec. 4.3.
        model_timestep: where the network is evaluated for the step ``current -> t``: ``"next"``
            (default) at ``t``, the exact mirror of the sampler's step (as e.g. in null-text inversion);
            ``"current"`` at the level ``x`` is at (``max(current, 0)``), the explicit Euler step of the
            ODE, ``eps(x_t, t)`` in Song et al. 2021, eq. 13 and Dhariwal & Nichol 2021, appendix F. The
            network then sees ``x`` at the noise level it was trained for, but decoding with
            :func:`~dimedia_course.sampling.sample` no longer undoes the inversion step for step.
    """
    _check_ddim(scheduler)
    if not torch.is_tensor(x0) or x0.ndim < 3:
        raise ValueError("x0 must be a tensor shaped (B, C, H, W)")
    if guidance_scale != 1.0 and y is None:
        raise ValueError("guidance_scale != 1 needs class labels y (classifier-free guidance)")
    if y is not None:
        y = check_labels(y, x0)
    cond = check_condition(concat_condition, x0)
    timesteps = set_inference_timesteps(scheduler, num_inference_steps)
    if model_timestep not in ("next", "current"):
        raise ValueError(f"model_timestep must be 'next' or 'current', got {model_timestep!r}")
    if isinstance(stop_index, bool) or not isinstance(stop_index, int) or not 0 <= stop_index < len(timesteps):
        raise ValueError(f"stop_index must be an int in [0, {len(timesteps) - 1}], got {stop_index!r}")

    model_was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    x = x0.clone()
    trajectory = [x.detach().cpu()] if return_trajectory else None
    try:
        for t in reversed(timesteps[stop_index:]):  # ascending: clean image -> timesteps[stop_index]
            current = scheduler.previous_timestep(t)  # the level x is at now (-1: clean image)
            t_model = t if model_timestep == "next" else max(current, 0)
            t_batch = torch.full((x.shape[0],), t_model, dtype=torch.long, device=x.device)
            out = denoiser_output(model, x, t_batch, y, guidance_scale, null_label, cond)
            x, _ = scheduler.reversed_step(out, current, x, next_timestep=t)
            if trajectory is not None:
                trajectory.append(x.detach().cpu())
    finally:
        if model_was_training:
            model.train()
    return (x, trajectory) if return_trajectory else x


def ddim_reconstruct(
    model,
    scheduler,
    x_T: torch.Tensor,
    num_inference_steps: int | None = 50,
    y: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
    concat_condition: torch.Tensor | None = None,
    null_label: int | None = None,
) -> torch.Tensor:
    """Decode DDIM latents back to images: deterministic DDIM sampling (eta = 0) from ``x_T``
    (Song et al. 2021, eq. 12). Use the same scheduler settings and steps as :func:`ddim_invert`."""
    _check_ddim(scheduler)
    return sample(
        model,
        scheduler,
        x_T=x_T,
        y=y,
        guidance_scale=guidance_scale,
        num_inference_steps=num_inference_steps,
        eta=0.0,
        concat_condition=concat_condition,
        null_label=null_label,
    )
