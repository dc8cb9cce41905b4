"""Sinusoidal embeddings of the diffusion timestep.

A denoising network must know *how noisy* its input is. Following the Transformer positional
encoding (Vaswani et al. 2017, section 3.5) as used for diffusion by Ho et al. 2020 (appendix B),
an integer timestep ``t`` is mapped to a vector of sines and cosines at geometrically spaced
frequencies,

    emb(t)_i        = sin(t * w_i),   emb(t)_{i + d/2} = cos(t * w_i),   w_i = max_period^(-i / (d/2)),

which a small MLP then turns into the per-block conditioning vector.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps (Vaswani et al. 2017, sec. 3.5; Ho et al. 2020, app. B).

    Args:
        t: timesteps, shape ``(B,)`` (integer or float).
        dim: embedding size (an even number >= 2).
        max_period: the slowest frequency's period (10 000 in both papers).

    Returns:
        float tensor ``(B, dim)``: ``[sin(t w_0), ..., sin(t w_{d/2-1}), cos(t w_0), ...]``.
    """
    if not isinstance(dim, int) or dim < 2 or dim % 2:
        raise ValueError(f"dim must be an even integer >= 2, got {dim!r}")
    if not torch.is_tensor(t):
        raise TypeError(f"t must be a tensor of shape (B,), got {type(t).__name__}")
    if t.ndim == 0:
        t = t[None]
    if t.ndim != 1:
        raise ValueError(f"t must have shape (B,), got {tuple(t.shape)}")
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    frequencies = torch.exp(exponent)
    angles = t.float()[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


class TimestepEmbedding(nn.Module):
    """Sinusoidal features followed by a two-layer MLP (Ho et al. 2020, app. B).

    ``forward(t)`` maps timesteps ``(B,)`` to conditioning vectors ``(B, out_dim)``.
    """

    def __init__(self, sinusoidal_dim: int, out_dim: int):
        super().__init__()
        self.sinusoidal_dim = sinusoidal_dim
        self.mlp = nn.Sequential(nn.Linear(sinusoidal_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.sinusoidal_dim))
