"""A time-conditioned classifier ``p_phi(y | x_t, t)`` for classifier guidance.

Classifier guidance (Dhariwal & Nichol 2021, sec. 4 and Algorithm 1/2) steers a diffusion model
with the gradient ``grad_x log p_phi(y | x_t, t)`` of a classifier trained on *noisy* images
``x_t ~ q(x_t | x_0)`` at every timestep. The classifier here is the downsampling half of
:class:`~dimedia_course.nn.unet.SmallUNet` (residual blocks with the timestep embedding), global
average pooling and a linear head, as in Dhariwal & Nichol 2021 (sec. 4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dimedia_course.forward import q_sample
from dimedia_course.nn.embeddings import TimestepEmbedding
from dimedia_course.nn.unet import ResidualBlock, SelfAttention, group_norm_groups
from dimedia_course.validation import batch_timesteps, check_alphas_cumprod, check_positive_int


class NoisyClassifier(nn.Module):
    """Classifier of noisy images, ``forward(x_t, t) -> logits (B, num_classes)``.

    Args:
        in_channels: image channels.
        num_classes: number of classes (>= 2).
        base_channels: channels at full resolution.
        channel_mults: channel multiplier per level; the image is halved after each level.
        attention: add self-attention at the lowest resolution.
        dropout: dropout inside residual blocks.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        base_channels: int = 16,
        channel_mults: Sequence[int] = (1, 2, 2),
        attention: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        check_positive_int(base_channels, "base_channels")
        channel_mults = tuple(channel_mults)
        if not channel_mults:
            raise ValueError("channel_mults must not be empty")
        self.in_channels = in_channels
        self.num_classes = num_classes
        emb_dim = 4 * base_channels
        self.time_embedding = TimestepEmbedding(base_channels, emb_dim)
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)
        self.blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        prev = base_channels
        for mult in channel_mults:
            ch = base_channels * mult
            self.blocks.append(ResidualBlock(prev, ch, emb_dim, dropout))
            self.downsamples.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
            prev = ch
        self.attn = SelfAttention(prev) if attention else nn.Identity()
        self.norm_out = nn.GroupNorm(group_norm_groups(prev), prev)
        self.head = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(x) or x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (B, {self.in_channels}, H, W), got {tuple(getattr(x, 'shape', ()))}")
        t = batch_timesteps(t, x.shape[0], x.device)
        emb = self.time_embedding(t)
        h = self.conv_in(x)
        for block, down in zip(self.blocks, self.downsamples):
            h = down(block(h, emb))
        h = self.attn(h)
        h = F.silu(self.norm_out(h)).mean(dim=(2, 3))  # global average pooling
        return self.head(h)


def train_noisy_classifier(
    classifier: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    alphas_cumprod,
    steps: int = 200,
    *,
    batch_size: int = 32,
    lr: float = 1e-3,
    max_timestep: int | None = None,
    device=None,
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Train ``classifier`` on noisy images, the classifier of Dhariwal & Nichol 2021 (sec. 4).

    Each step draws a batch ``(x_0, y)``, a timestep ``t ~ U{0, T-1}`` (or ``U{0, max_timestep-1}``)
    and noise, forms ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` (Ho et al. 2020, eq. 4) and
    minimises the cross-entropy of ``classifier(x_t, t)`` against ``y``.

    Args:
        classifier: e.g. :class:`NoisyClassifier`.
        images: ``(N, C, H, W)`` in ``[-1, 1]``; labels: ``(N,)`` integers.
        alphas_cumprod: ``(T,)`` tensor, or a scheduler / :class:`NoiseSchedule` with ``.alphas_cumprod``.
        steps: optimiser steps; batch_size, lr: Adam settings.
        device: where to train (default: :func:`dimedia_course.get_device`).
        seed: seeds the local generator for batches, timesteps and noise.

    Returns:
        ``{"loss": [...], "accuracy": [...], "steps": steps}`` (per-step training loss / batch accuracy).
    """
    from tqdm.auto import tqdm

    from dimedia_course.device import get_device, make_generator

    if not torch.is_tensor(images) or images.ndim != 4:
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    labels = torch.as_tensor(labels)
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
    check_positive_int(steps, "steps")
    ac = check_alphas_cumprod(alphas_cumprod).float()
    T = int(ac.shape[0]) if max_timestep is None else int(max_timestep)
    if not 1 <= T <= ac.shape[0]:
        raise ValueError(f"max_timestep must be in [1, {ac.shape[0]}], got {max_timestep!r}")
    device = get_device(device)
    classifier.to(device).train()
    ac = ac.to(device)
    gen = make_generator(seed)
    opt = torch.optim.Adam(classifier.parameters(), lr=lr)
    history = {"loss": [], "accuracy": [], "steps": steps}
    n = images.shape[0]
    for _ in tqdm(range(steps), disable=not progress, desc="classifier"):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=gen)
        x0 = images[idx].to(device).float()
        y = labels[idx].to(device).long()
        t = torch.randint(0, T, (x0.shape[0],), generator=gen).to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        x_t = q_sample(x0, t, noise, ac)  # Ho et al. 2020, eq. 4
        logits = classifier(x_t, t)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history["loss"].append(float(loss.detach()))
        history["accuracy"].append(float((logits.argmax(1) == y).float().mean()))
    classifier.eval()
    return history


def fit_judge(images: torch.Tensor, labels: torch.Tensor, steps: int = 150, seed: int = 0) -> NoisyClassifier:
    """A classifier of clean images (a :class:`NoisyClassifier` trained at ``t = 0`` only), the *judge* that
    measures whether class-conditional samples show their class: its accuracy on generated images is read
    next to its accuracy on real held-out images (the ceiling a perfect generator reaches)."""
    classes = int(torch.as_tensor(labels).max()) + 1
    torch.manual_seed(seed)
    judge = NoisyClassifier(images.shape[1], num_classes=max(classes, 2), base_channels=8, channel_mults=(1, 2))
    train_noisy_classifier(
        judge, images, labels, torch.ones(1), steps=steps, batch_size=32, max_timestep=1, device="cpu", seed=seed
    )
    return judge


def judge_accuracy(judge: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` the judge of :func:`fit_judge` assigns to ``labels``."""
    with torch.no_grad():
        predicted = judge(images.float(), torch.zeros(images.shape[0], dtype=torch.long)).argmax(1)
    return float((predicted == torch.as_tensor(labels)).float().mean())
