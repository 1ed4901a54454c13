"""FPN top blocks: the extra coarse levels an FPN adds above its last backbone level, for any
number of levels (detectron2 ships one max-pool level, LastLevelMaxPool, and two conv levels,
LastLevelP6P7). Used by the Root-ResNet FPNs and the ViT's simple feature pyramid."""

from __future__ import annotations

import fvcore.nn.weight_init as weight_init
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LastLevelConvs", "LastLevelMaxPools"]


class LastLevelMaxPools(nn.Module):
    """``num_levels`` extra FPN levels by stride-2 subsampling (detectron2's LastLevelMaxPool,
    repeated), from the FPN level ``in_feature`` (the last one: p4 for a root stem, p5 for a basic one)."""

    def __init__(self, in_feature: str, num_levels: int = 1):
        super().__init__()
        self.in_feature = in_feature
        self.num_levels = num_levels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for _ in range(self.num_levels):
            x = F.max_pool2d(x, kernel_size=1, stride=2, padding=0)
            outs.append(x)
        return outs


class LastLevelConvs(nn.Module):
    """``num_levels`` extra FPN levels by 3x3 stride-2 convs (detectron2's LastLevelP6P7 for
    any number of levels). Convs are named after the level they produce (``p6``, ``p7`` for a
    basic stem and two levels, as in detectron2, so its RetinaNet checkpoints still load)."""

    def __init__(
        self, in_channels: int, out_channels: int, in_feature: str, first_level: int, num_levels: int = 2
    ):
        super().__init__()
        self.in_feature = in_feature
        self.num_levels = num_levels
        self._names = [f"p{first_level + i}" for i in range(num_levels)]
        for i, name in enumerate(self._names):
            conv = nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, 2, 1)
            weight_init.c2_xavier_fill(conv)
            self.add_module(name, conv)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, name in enumerate(self._names):
            x = getattr(self, name)(x if i == 0 else F.relu(x))
            outs.append(x)
        return outs
