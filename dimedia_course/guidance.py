"""Guidance: steering a diffusion model towards a class label.

- **Classifier-free guidance** (Ho & Salimans 2022): train one network both conditionally and
  unconditionally (:func:`drop_labels` replaces a fraction ``p_uncond`` of the labels by the null
  label), then combine at sampling time (their eq. 6, written with ``s = 1 + w``)::

      out = out_uncond + s * (out_cond - out_uncond)

  ``s = 1`` is the plain conditional model, ``s = 0`` the unconditional one, ``s > 1`` trades
  diversity for fidelity. Both outputs come from *one* batched forward pass.
- **Classifier guidance** (Dhariwal & Nichol 2021, Algorithm 2 / eq. 14): a classifier
  ``p(y | x_t, t)`` trained on noisy images shifts the predicted noise along its gradient::

      eps_hat = eps - scale * sqrt(1 - alphabar_t) * grad_x log p(y | x_t)

Both assume an ``"epsilon"`` (or any output linear in the score, e.g. ``"v_prediction"`` for CFG)
parameterisation; classifier guidance in this form requires ``"epsilon"``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from dimedia_course.schedules import extract
from dimedia_course.validation import batch_timesteps, check_alphas_cumprod, check_labels

__all__ = [
    "classifier_free_guidance",
    "ClassifierFreeGuidedModel",
    "drop_labels",
    "classifier_gradient",
    "ClassifierGuidedModel",
]


def _timesteps_of(t, x: torch.Tensor) -> torch.Tensor:
    return batch_timesteps(t, x.shape[0], x.device, allow_float=True)  # DDPM's integers or a flow's floats


def classifier_free_guidance(model, x: torch.Tensor, t, y: torch.Tensor, guidance_scale: float, null_label: int):
    """Classifier-free guided output ``uncond + s * (cond - uncond)`` (Ho & Salimans 2022, eq. 6).

    Args:
        model: ``model(x, t, y)`` trained with label dropout; ``null_label`` means "no class".
        x: current samples ``(B, C, ...)`` (including any concatenated condition channels).
        t: timestep(s): an int or a float (a rectified flow's continuous time), or a ``(B,)`` tensor.
        y: class labels ``(B,)``.
        guidance_scale: ``s``; 1 gives the conditional output, 0 the unconditional one.
        null_label: the label index of the unconditional model (``num_classes`` by convention).

    The conditional and unconditional outputs come from a single forward pass on a batch of ``2B``.
    """
    t = _timesteps_of(t, x)
    y = check_labels(y, x)
    null = torch.full_like(y, int(null_label))
    out = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
    cond, uncond = out.chunk(2)
    return uncond + guidance_scale * (cond - uncond)


class ClassifierFreeGuidedModel(nn.Module):
    """Wrap a conditional denoiser so that ``forward(x, t, y)`` returns the CFG output.

    With ``y=None`` the wrapped model is called unconditionally (one pass, no guidance).
    """

    def __init__(self, model: nn.Module, guidance_scale: float, null_label: int) -> None:
        super().__init__()
        self.model = model
        self.guidance_scale = float(guidance_scale)
        self.null_label = int(null_label)

    def forward(self, x: torch.Tensor, t, y=None) -> torch.Tensor:
        if y is None:
            return self.model(x, _timesteps_of(t, x))
        return classifier_free_guidance(self.model, x, t, y, self.guidance_scale, self.null_label)


def drop_labels(y: torch.Tensor, p_uncond: float, null_label: int, generator: torch.Generator | None = None):
    """Replace each label by ``null_label`` with probability ``p_uncond`` (Ho & Salimans 2022, Alg. 1).

    Returns a new tensor; ``y`` is not modified. Typical ``p_uncond``: 0.1 - 0.2.
    """
    if not torch.is_tensor(y) or y.dtype.is_floating_point or y.ndim != 1:
        raise TypeError("y must be a 1-D integer tensor of class labels")
    if not 0.0 <= p_uncond <= 1.0:
        raise ValueError(f"p_uncond must lie in [0, 1], got {p_uncond}")
    device = generator.device if generator is not None else y.device
    drop = (torch.rand(y.shape, generator=generator, device=device) < p_uncond).to(y.device)
    return torch.where(drop, torch.full_like(y, int(null_label)), y)


def classifier_gradient(classifier, x: torch.Tensor, t, y: torch.Tensor) -> torch.Tensor:
    """``grad_x log p(y | x_t, t)`` of a noisy-image classifier (Dhariwal & Nichol 2021, Alg. 2).

    ``classifier(x, t)`` returns logits ``(B, num_classes)``. Gradients are enabled locally, so this
    works inside ``torch.no_grad()`` sampling loops; the result is detached. (Samples must be
    independent in the classifier, e.g. no batch-norm in training mode.)
    """
    t = _timesteps_of(t, x)
    y = check_labels(y, x)
    with torch.enable_grad():
        x_in = x.detach().requires_grad_(True)
        logits = classifier(x_in, t)
        if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
            raise ValueError(f"classifier must return logits shaped (B, num_classes), got {tuple(logits.shape)}")
        log_prob = F.log_softmax(logits.float(), dim=-1)
        selected = log_prob[torch.arange(x.shape[0], device=x.device), y].sum()
        (grad,) = torch.autograd.grad(selected, x_in)
    return grad.detach()


class ClassifierGuidedModel(nn.Module):
    """An epsilon-predictor shifted by a classifier's gradient (Dhariwal & Nichol 2021, eq. 14).

    ``forward(x, t, y) = eps(x, t) - scale * sqrt(1 - alphabar_t) * grad_x log p(y | x_t, t)``.

    Args:
        model: an *epsilon-predicting* denoiser, called as ``model(x, t)`` (unconditional), or as
            ``model(x, t, y)`` when ``conditional_model=True``.
        classifier: noisy-image classifier ``classifier(x, t) -> logits``.
        alphas_cumprod: ``(T,)`` alphabar tensor (or a NoiseSchedule / scheduler).
        scale: guidance scale (the paper uses 1 - 10).
    """

    def __init__(self, model, classifier, alphas_cumprod, scale: float, conditional_model: bool = False) -> None:
        super().__init__()
        self.model = model
        self.classifier = classifier
        self.register_buffer("alphas_cumprod", check_alphas_cumprod(alphas_cumprod).detach().clone().float())
        self.scale = float(scale)
        self.conditional_model = conditional_model

    def forward(self, x: torch.Tensor, t, y=None) -> torch.Tensor:
        t = _timesteps_of(t, x)
        eps = self.model(x, t, y) if (self.conditional_model and y is not None) else self.model(x, t)
        if y is None or self.scale == 0:
            return eps
        grad = classifier_gradient(self.classifier, x, t, y)
        sigma = (1 - extract(self.alphas_cumprod, t, x)).sqrt()  # sqrt(1 - alphabar_t)
        return eps - self.scale * sigma * grad
