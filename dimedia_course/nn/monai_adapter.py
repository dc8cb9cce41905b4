"""Use MONAI's ``DiffusionModelUNet`` with the course's ``model(x, t, y=None)`` convention.

MONAI Generative (Pinaya et al. 2023, "Generative AI for Medical Imaging: extending the MONAI
Framework") ships the UNet of Rombach et al. 2022 / Dhariwal & Nichol 2021 as
:class:`monai.networks.nets.DiffusionModelUNet`, called as ``net(x, timesteps, class_labels=...)``.
This thin adapter maps the course convention onto it, including the classifier-free-guidance null
label (Ho & Salimans 2022): MONAI gets ``num_class_embeds = num_classes + 1`` and ``y=None`` is
sent as label ``num_classes``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dimedia_course.validation import batch_labels, batch_timesteps, check_images


class MonaiUNetAdapter(nn.Module):
    """Wrap :class:`monai.networks.nets.DiffusionModelUNet` (2D) as ``model(x, t, y=None)``.

    The defaults are a small configuration that runs on a CPU (about 1 M parameters); any
    further keyword argument is passed to ``DiffusionModelUNet`` unchanged.

    Args:
        in_channels, out_channels: image channels in and out.
        channels: channels per resolution level (each divisible by ``norm_num_groups``).
        attention_levels: self-attention per level (MONAI needs ``einops`` for it).
        num_res_blocks: residual blocks per level.
        num_head_channels: channels per attention head.
        norm_num_groups: GroupNorm groups.
        num_classes: ``None`` (unconditional) or the number of classes; label ``num_classes``
            is the null label.
        spatial_dims: 2 for images ``(B, C, H, W)``, 3 for volumes ``(B, C, D, H, W)``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: Sequence[int] = (32, 64, 64),
        attention_levels: Sequence[bool] = (False, False, True),
        num_res_blocks: int | Sequence[int] = 1,
        num_head_channels: int | Sequence[int] = 32,
        norm_num_groups: int = 8,
        num_classes: int | None = None,
        spatial_dims: int = 2,
        **unet_kwargs,
    ):
        super().__init__()
        from monai.networks.nets import DiffusionModelUNet

        if num_classes is not None and (
            not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1
        ):
            raise ValueError(f"num_classes must be None or a positive integer, got {num_classes!r}")
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 (images) or 3 (volumes), got {spatial_dims!r}")
        channels = tuple(channels)
        if len(tuple(attention_levels)) != len(channels):
            raise ValueError(f"attention_levels needs one flag per entry of channels ({len(channels)})")
        if any(c % norm_num_groups for c in channels):
            raise ValueError(
                f"every entry of channels {channels} must be divisible by norm_num_groups={norm_num_groups}"
            )
        if isinstance(num_res_blocks, int):
            num_res_blocks = (num_res_blocks,) * len(channels)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_classes = num_classes
        self.spatial_dims = spatial_dims
        self.downsample_factor = 2 ** (len(channels) - 1)
        self.unet = DiffusionModelUNet(
            spatial_dims=spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            channels=channels,
            attention_levels=tuple(bool(a) for a in attention_levels),
            num_res_blocks=tuple(num_res_blocks),
            num_head_channels=num_head_channels,
            norm_num_groups=norm_num_groups,
            num_class_embeds=None if num_classes is None else num_classes + 1,
            **unet_kwargs,
        )

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_images(x, "x", channels=self.in_channels, ndim=2 + self.spatial_dims)
        f = self.downsample_factor
        if any(side % f for side in x.shape[2:]):
            raise ValueError(f"image size {tuple(x.shape[2:])} must be divisible by {f}")
        b = x.shape[0]
        t = batch_timesteps(t, b, x.device)
        class_labels = None
        if self.num_classes is not None:
            class_labels = batch_labels(self.num_classes if y is None else y, b, self.num_classes, x.device)
        elif y is not None:
            raise ValueError("y was given but this MonaiUNetAdapter is unconditional (num_classes=None)")
        return self.unet(x, timesteps=t.long(), class_labels=class_labels)
