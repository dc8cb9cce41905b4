"""Small shared pieces of the application modules: input checks and a DDIM loop with hooks.

The loop is the deterministic DDIM update (Song et al. 2021, eq. 12) written out explicitly so that
applications can modify the clean-image estimate at every step (data consistency for inverse problems,
Chung & Ye 2022; Chung et al. 2024) or add a likelihood gradient (diffusion posterior sampling,
Chung et al. 2023). Plain sampling, inversion and guidance live in :mod:`dimedia_course.sampling`,
:mod:`dimedia_course.inversion` and :mod:`dimedia_course.guidance`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dimedia_course.losses import check_prediction_type, predict_epsilon, predict_x0


def check_images(x, name: str, channels: int | None = None) -> torch.Tensor:
    """Raise a clear error unless ``x`` is a float tensor ``(B, C, H, W)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor shaped (B, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be shaped (B, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} must have {channels} channel(s), got {x.shape[1]}")
    return x


def check_binary_mask(mask, name: str) -> torch.Tensor:
    """Raise a clear error unless ``mask`` only holds 0 and 1 (bool masks are converted to float)."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype == torch.bool:
        return mask.float()
    if not torch.all((mask == 0) | (mask == 1)):
        raise ValueError(f"{name} must be a binary mask with values in {{0, 1}}")
    return mask.float()


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_scheduler(scheduler) -> None:
    for attr in ("alphas_cumprod", "num_train_timesteps", "set_timesteps"):
        if not hasattr(scheduler, attr):
            raise TypeError(f"scheduler must be a DDPM/DDIM scheduler with .{attr}; got {type(scheduler).__name__}")


def model_device(model) -> torch.device:
    """The device of ``model``'s parameters (CPU for a parameter-free callable)."""
    params = list(model.parameters()) if hasattr(model, "parameters") else []
    return params[0].device if params else torch.device("cpu")


def inference_timesteps(scheduler, num_inference_steps: int, device) -> torch.Tensor:
    """Descending timesteps from the scheduler's own spacing (``set_timesteps``)."""
    scheduler.set_timesteps(num_inference_steps, device=device)
    return torch.as_tensor(scheduler.timesteps, device=device).long()


def ddim_loop(
    model: Callable,
    scheduler,
    x_T: torch.Tensor,
    *,
    num_inference_steps: int = 50,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    model_kwargs: dict | None = None,
    concat_condition: torch.Tensor | None = None,
    correct_x0: Callable[[torch.Tensor], torch.Tensor] | None = None,
    likelihood_grad: Callable[[torch.Tensor], torch.Tensor] | None = None,
    guidance_step: float = 1.0,
    start_index: int = 0,
    clip: bool = True,
) -> torch.Tensor:
    """Run DDIM (Song et al. 2021, eq. 12) from ``x_T`` with optional per-step hooks.

    At each step the network gives ``x0_hat`` and ``eps_hat``; then

    - ``correct_x0(x0_hat)`` may replace ``x0_hat`` (data consistency: projection onto the measurements,
      Chung & Ye 2022; a few conjugate-gradient steps, Chung et al. 2024 "DDS") before the update
      ``x_{t-1} = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - s^2) eps_hat + s z``;
    - ``likelihood_grad(x0_hat)`` returns a scalar loss ``||y - A(x0_hat)||``; its gradient with respect
      to ``x_t`` (through the network) is subtracted with step ``guidance_step`` (diffusion posterior
      sampling, Chung et al. 2023, Alg. 1).

    ``start_index`` skips the first timesteps (partial diffusion from an intermediate level).
    """
    check_scheduler(scheduler)
    model_kwargs = dict(model_kwargs or {})
    prediction_type = check_prediction_type(getattr(scheduler, "prediction_type", "epsilon"))
    device = x_T.device
    timesteps = inference_timesteps(scheduler, num_inference_steps, device)
    alphas_cumprod = torch.as_tensor(scheduler.alphas_cumprod, device=device, dtype=x_T.dtype)
    x = x_T
    for i in range(start_index, len(timesteps)):
        t = int(timesteps[i])
        prev_t = int(timesteps[i + 1]) if i + 1 < len(timesteps) else -1
        ab_t = alphas_cumprod[t]
        ab_prev = alphas_cumprod[prev_t] if prev_t >= 0 else torch.ones((), device=device, dtype=x.dtype)
        t_batch = torch.full((x.shape[0],), t, device=device, dtype=torch.long)
        use_grad = likelihood_grad is not None
        x_in = x.detach().requires_grad_(use_grad)
        with torch.set_grad_enabled(use_grad):
            net_in = x_in if concat_condition is None else torch.cat([x_in, concat_condition], dim=1)
            out = model(net_in, t_batch, **model_kwargs)
            # x0_hat and eps_hat from the network output (Ho et al. 2020, eq. 15; Salimans & Ho 2022)
            x0 = predict_x0(out, x_in, t_batch, alphas_cumprod, prediction_type)
            eps = predict_epsilon(out, x_in, t_batch, alphas_cumprod, prediction_type)
            if clip:
                x0 = x0.clamp(-1, 1)
            grad = None
            if use_grad:
                loss = likelihood_grad(x0)
                grad = torch.autograd.grad(loss, x_in)[0]
        x0, eps = x0.detach(), eps.detach()
        if correct_x0 is not None:
            with torch.no_grad():
                x0 = correct_x0(x0)
        # DDIM noise level sigma_t (Song et al. 2021, eq. 16); eta = 0 is deterministic
        sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)).clamp_min(0).sqrt()
        direction = (1 - ab_prev - sigma**2).clamp_min(0).sqrt() * eps
        x = ab_prev.sqrt() * x0 + direction
        if eta > 0 and prev_t >= 0:
            x = x + sigma * torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype)
        if grad is not None:
            x = x - guidance_step * grad
        x = x.detach()
    return x


def ddim_invert_partial(
    model: Callable,
    scheduler,
    x0: torch.Tensor,
    *,
    num_inference_steps: int,
    start_index: int,
    model_kwargs: dict | None = None,
) -> torch.Tensor:
    """Deterministic DDIM inversion (Song et al. 2021, Sec. 4.3; Wolleb et al. 2022) of ``x0`` up to the
    noise level of ``timesteps[start_index]``, so that :func:`ddim_loop` started there (``start_index``)
    decodes it back. A thin wrapper around :func:`dimedia_course.inversion.ddim_invert` with
    ``stop_index=start_index`` and ``model_timestep="current"`` (the network sees each image at its own
    noise level, Song et al. 2021, eq. 13); ``model_kwargs`` may hold ``y`` (class labels). Like :func:`ddim_loop`
    with ``clip=False`` the predicted ``x0`` is not clipped (clipping breaks invertibility)."""
    import copy

    from dimedia_course.inversion import ddim_invert

    check_scheduler(scheduler)
    if getattr(scheduler, "clip_sample", False):
        scheduler = copy.copy(scheduler)  # a copy without clipping; the caller's scheduler is unchanged
        scheduler.clip_sample = False
    model_kwargs = dict(model_kwargs or {})
    y = model_kwargs.pop("y", None)
    if model_kwargs:
        raise ValueError(f"model_kwargs may only hold 'y', got {sorted(model_kwargs)}")
    return ddim_invert(
        model,
        scheduler,
        x0,
        num_inference_steps=num_inference_steps,
        y=y,
        stop_index=start_index,
        model_timestep="current",
    )
