"""A small conditional UNet for denoising diffusion on CPU.

The architecture follows the DDPM network of Ho et al. 2020 (appendix B: a PixelCNN++-style
UNet with residual blocks, GroupNorm, sinusoidal timestep embedding and self-attention at low
resolution) with the class-conditioning of Dhariwal & Nichol 2021 (class embedding added to the
timestep embedding) and the *null label* of classifier-free guidance (Ho & Salimans 2022): index
``num_classes`` of the class embedding means "no label", so one network learns both
``eps(x_t, t, y)`` and ``eps(x_t, t)``.

It is deliberately tiny (< 1 M parameters with the defaults) so that it trains in minutes on a
laptop CPU on 32x32 or 64x64 images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dimedia_course.nn.embeddings import TimestepEmbedding
from dimedia_course.validation import batch_labels, batch_timesteps, check_images, check_positive_int


def group_norm_groups(channels: int) -> int:
    """Number of GroupNorm groups: 8 when it divides ``channels``, else the largest divisor <= 8."""
    for g in (8, 4, 2, 1):
        if channels % g == 0:
            return g
    return 1


class ResidualBlock(nn.Module):
    """GroupNorm -> SiLU -> conv, plus the (time [+ class]) embedding, twice, with a skip path.

    The embedding is projected to ``out_channels`` and added after the first convolution, as
    in Ho et al. 2020 (app. B).
    """

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(group_norm_groups(in_channels), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, out_channels)
        self.norm2 = nn.GroupNorm(group_norm_groups(out_channels), out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention over all pixels (Vaswani et al. 2017), with a residual connection."""

    def __init__(self, channels: int, num_heads: int = 4):
        super().__init__()
        if channels % num_heads:
            num_heads = 1
        self.num_heads = num_heads
        self.norm = nn.GroupNorm(group_norm_groups(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.num_heads, c // self.num_heads, h * w).unbind(1)
        # (B, heads, pixels, head_dim): every pixel attends to every other pixel
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        out = out.transpose(-1, -2).reshape(b, c, h, w)
        return x + self.proj(out)


class _Level(nn.Module):
    """Residual blocks (each optionally followed by attention) at one resolution."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, n_blocks: int, attention: bool, dropout: float):
        super().__init__()
        self.blocks = nn.ModuleList(
            ResidualBlock(in_ch if i == 0 else out_ch, out_ch, emb_dim, dropout) for i in range(n_blocks)
        )
        self.attn = nn.ModuleList(SelfAttention(out_ch) if attention else nn.Identity() for _ in range(n_blocks))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for block, attn in zip(self.blocks, self.attn):
            x = attn(block(x, emb))
        return x


class SmallUNet(nn.Module):
    """Small UNet ``eps_theta(x_t, t, y)`` for diffusion models (Ho et al. 2020, app. B).

    Args:
        in_channels: channels of the network input (1 for grey images; image-conditioned models
            such as diffusion segmentation concatenate the condition, e.g. image + noisy mask = 2).
        out_channels: channels of the output (the predicted noise / x0 / v).
        base_channels: channels at full resolution.
        channel_mults: channel multiplier per resolution level; the image is halved between levels,
            so H and W must be divisible by ``2 ** (len(channel_mults) - 1)``.
        num_classes: number of classes for class-conditioning, or ``None`` for an unconditional
            network. Label ``num_classes`` (and ``y=None``) is the null label of classifier-free
            guidance (Ho & Salimans 2022).
        attention_levels: per level, whether to add self-attention after its residual blocks.
        dropout: dropout rate inside residual blocks.
        num_res_blocks: residual blocks per level (1 keeps the default model < 1 M parameters).

    ``forward(x, t, y=None)`` with ``x`` ``(B, in_channels, H, W)``, ``t`` ``(B,)`` timesteps and
    ``y`` ``(B,)`` integer labels returns ``(B, out_channels, H, W)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        base_channels: int = 32,
        channel_mults: Sequence[int] = (1, 2, 2),
        num_classes: int | None = None,
        attention_levels: Sequence[bool] = (False, False, True),
        dropout: float = 0.0,
        num_res_blocks: int = 1,
    ):
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("base_channels", base_channels),
            ("num_res_blocks", num_res_blocks),
        ):
            check_positive_int(value, name)
        channel_mults = tuple(channel_mults)
        if not channel_mults or any(not isinstance(m, int) or m < 1 for m in channel_mults):
            raise ValueError(f"channel_mults must be a non-empty sequence of positive ints, got {channel_mults!r}")
        attention_levels = tuple(bool(a) for a in attention_levels)
        if len(attention_levels) != len(channel_mults):
            raise ValueError(
                f"attention_levels must have one flag per level ({len(channel_mults)}), got {attention_levels!r}"
            )
        if num_classes is not None and (
            not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1
        ):
            raise ValueError(f"num_classes must be None or a positive integer, got {num_classes!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_classes = num_classes
        self.channel_mults = channel_mults
        self.downsample_factor = 2 ** (len(channel_mults) - 1)

        emb_dim = 4 * base_channels
        self.time_embedding = TimestepEmbedding(base_channels, emb_dim)
        # one extra row: the null label used for classifier-free guidance
        self.class_embedding = nn.Embedding(num_classes + 1, emb_dim) if num_classes is not None else None

        channels = [base_channels * m for m in channel_mults]
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        self.down_levels = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        prev = base_channels
        for i, ch in enumerate(channels):
            self.down_levels.append(_Level(prev, ch, emb_dim, num_res_blocks, attention_levels[i], dropout))
            last = i == len(channels) - 1
            self.downsamples.append(nn.Identity() if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1))
            prev = ch

        self.mid_block1 = ResidualBlock(prev, prev, emb_dim, dropout)
        self.mid_attn = SelfAttention(prev)
        self.mid_block2 = ResidualBlock(prev, prev, emb_dim, dropout)

        self.up_levels = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for i in reversed(range(len(channels))):
            ch = channels[i]
            # the first block of each level receives the skip connection concatenated to its input
            self.up_levels.append(_Level(prev + ch, ch, emb_dim, num_res_blocks, attention_levels[i], dropout))
            self.upsamples.append(nn.Conv2d(ch, ch, 3, padding=1) if i > 0 else nn.Identity())
            prev = ch

        self.norm_out = nn.GroupNorm(group_norm_groups(prev), prev)
        self.conv_out = nn.Conv2d(prev, out_channels, 3, padding=1)
        # Weights in PyTorch's channels-last layout: on a CPU, oneDNN's convolutions then sample about 1.5x
        # faster at batch 64 and 1.3x at batch 4 (training speed is unchanged); `.to(device)` and
        # `load_state_dict` keep the layout, and forward returns an ordinary contiguous tensor.
        self.to(memory_format=torch.channels_last)

    # ------------------------------------------------------------------ helpers
    def _check_inputs(self, x: torch.Tensor, t, y):
        check_images(x, "x", channels=self.in_channels)
        h, w = x.shape[-2:]
        f = self.downsample_factor
        if h % f or w % f:
            raise ValueError(
                f"image size {h}x{w} must be divisible by 2**(len(channel_mults)-1) = {f}; pad or resize x"
            )
        b = x.shape[0]
        t = batch_timesteps(t, b, x.device, allow_float=True)  # the sinusoidal embedding takes float times
        if y is not None:
            if self.num_classes is None:
                raise ValueError("y was given but this SmallUNet is unconditional (num_classes=None)")
            y = batch_labels(y, b, self.num_classes, x.device)
        return t, y

    def embed(self, t: torch.Tensor, y: torch.Tensor | None, batch: int) -> torch.Tensor:
        """Conditioning vector: time embedding plus class embedding (null label when ``y`` is None)."""
        emb = self.time_embedding(t)
        if self.class_embedding is not None:
            if y is None:
                y = torch.full((batch,), self.num_classes, dtype=torch.long, device=t.device)
            emb = emb + self.class_embedding(y)
        return emb

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        t, y = self._check_inputs(x, t, y)
        emb = self.embed(t, y, x.shape[0])

        h = self.conv_in(x)
        skips = []
        for level, down in zip(self.down_levels, self.downsamples):
            h = level(h, emb)
            skips.append(h)
            h = down(h)

        h = self.mid_block2(self.mid_attn(self.mid_block1(h, emb)), emb)

        for level, up in zip(self.up_levels, self.upsamples):
            h = level(torch.cat([h, skips.pop()], dim=1), emb)
            if not isinstance(up, nn.Identity):
                h = up(F.interpolate(h, scale_factor=2.0, mode="nearest"))

        return self.conv_out(F.silu(self.norm_out(h))).contiguous()


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
