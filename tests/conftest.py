"""Shared pytest fixtures: tiny deterministic models and schedules (fast on CPU).

Keep this file small and generic; other test modules may add fixtures here.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models are fastest on one thread, and far faster when the CPU is shared (no OpenMP spin-waits)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class GaussianEpsModel(nn.Module):
    """The *exact* epsilon-predictor for data x_0 ~ N(mean, std^2 I).

    With x_t = a x_0 + s eps (a = sqrt(alphabar_t), s = sqrt(1 - alphabar_t)) the posterior mean of
    the noise is E[eps | x_t] = s (x_t - a mean) / (a^2 std^2 + s^2). Deterministic, parameter-free.
    """

    def __init__(self, alphas_cumprod: torch.Tensor, mean: float = 0.3, std: float = 0.5):
        super().__init__()
        self.register_buffer("alphas_cumprod", torch.as_tensor(alphas_cumprod, dtype=torch.float64))
        self.mean, self.std = mean, std
        self.calls = 0

    def forward(self, x, t, y=None):
        self.calls += 1
        ab = self.alphas_cumprod[t.long()].reshape(-1, *([1] * (x.ndim - 1)))
        a, s = ab.sqrt(), (1 - ab).sqrt()
        x64 = x.double()
        eps = s * (x64 - a * self.mean) / (a**2 * self.std**2 + s**2)
        return eps.to(x.dtype)


class TinyCondNet(nn.Module):
    """A fixed random 3x3 conv net with a time and class embedding: model(x, t, y=None).

    ``num_classes`` is the null label (unconditional), as in the package convention.
    ``in_channels`` may exceed ``out_channels`` (image-conditioned models).
    """

    def __init__(self, in_channels=1, out_channels=1, num_classes=3, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.num_classes = num_classes
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time = nn.Embedding(1000, out_channels)
        self.label = nn.Embedding(num_classes + 1, out_channels)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
        self.calls = 0

    def forward(self, x, t, y=None):
        self.calls += 1
        if y is None:
            y = torch.full((x.shape[0],), self.num_classes, dtype=torch.long, device=x.device)
        h = self.conv(x) + self.time(t.long())[:, :, None, None] + self.label(y.long())[:, :, None, None]
        return torch.tanh(h)


@pytest.fixture
def gaussian_eps_model():
    """Factory: gaussian_eps_model(alphas_cumprod, mean=0.3, std=0.5)."""
    return GaussianEpsModel


@pytest.fixture
def tiny_cond_net():
    """A TinyCondNet(in_channels=1, out_channels=1, num_classes=3) in eval mode."""
    return TinyCondNet().eval()


@pytest.fixture
def generator():
    """A CPU torch.Generator seeded with 0."""
    return torch.Generator().manual_seed(0)
