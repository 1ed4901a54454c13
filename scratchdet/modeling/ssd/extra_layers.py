"""ScratchDet's extra layers: residual blocks that take the last backbone map down to 1x1, one
detection level each (SSD's conv8..conv11, as residual blocks with norm in ScratchDet).

Each block halves the map with a 3x3 stride-2 convolution (padding 1: 19 -> 10 -> 5 -> 3), except
that a 3x3 map goes straight to 1x1 (no padding), as SSD300's last layer: 300 px gives 10, 5, 3,
1 after res5's 19x19, 512 px gives 16, 8, 4, 2, 1 after 32x32. The padding is chosen from the
input size at run time, so one set of weights serves any input size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from detectron2.layers import Conv2d, get_norm
from fvcore.nn import weight_init
from torch import nn

from ..norm_policy import register_residual_block

__all__ = ["SHORTCUTS", "ExtraBlock", "ExtraLayers"]

# "strided": 1x1 conv - norm on the input subsampled at the centres of the branch's stride-2
# windows (the official ScratchDet code's stride-2 1x1 shortcut, a ResNet BasicBlock's);
# "avgpool": average pooling to the output size, then 1x1 conv - norm (ResNet-D's shortcut).
SHORTCUTS = ("strided", "avgpool")


def _padding(size: int) -> int:
    # A 3x3 map is reduced to 1x1 (SSD), not to 2x2 as padding 1 would.
    return 0 if size == 3 else 1


class ExtraBlock(nn.Module):
    """conv3x3 stride 2 - norm - ReLU - conv3x3 - norm, plus a shortcut (see :data:`SHORTCUTS`),
    then ReLU: a ResNet BasicBlock with stride 2, as the official ScratchDet code builds its
    extra layers (128 channels each).

    The strided shortcut samples the input where the branch's 3x3 windows are centred: every
    second pixel from 0 with padding 1 (exactly a stride-2 1x1 conv), from 1 without padding
    (a 3x3 map: its centre pixel), so it matches the branch's output in both cases."""

    def __init__(self, in_channels: int, out_channels: int, norm: str = "BN", shortcut: str = "strided"):
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut={shortcut!r}: use one of {SHORTCUTS} (MODEL.SSD.EXTRA_SHORTCUT).")
        self.shortcut_type = shortcut
        bias = not norm  # a norm's shift replaces the conv's bias
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=2, bias=bias, norm=get_norm(norm, out_channels))
        self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1, bias=bias, norm=get_norm(norm, out_channels))
        self.shortcut = Conv2d(in_channels, out_channels, 1, bias=bias, norm=get_norm(norm, out_channels))
        for conv in (self.conv1, self.conv2, self.shortcut):
            weight_init.c2_msra_fill(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (_padding(x.shape[-2]), _padding(x.shape[-1]))
        # conv1 with the padding this input needs (same weights, bias and norm as the module).
        out = F.conv2d(x, self.conv1.weight, self.conv1.bias, stride=2, padding=pad)
        if self.conv1.norm is not None:
            out = self.conv1.norm(out)
        out = F.relu_(out)
        out = self.conv2(out)
        if self.shortcut_type == "strided":
            # Centre of output position i: 2i (padding 1) or 2i + 1 (padding 0).
            sub = x[..., 1 - pad[0] :: 2, 1 - pad[1] :: 2][..., : out.shape[-2], : out.shape[-1]]
        else:
            sub = F.adaptive_avg_pool2d(x, out.shape[-2:])
        shortcut = self.shortcut(sub)
        return F.relu_(out + shortcut)


# Zero-init of the last norm of each residual branch (SCRATCHDET.INIT.ZERO_INIT_RESIDUAL) covers these too.
register_residual_block(ExtraBlock, "conv2")


class ExtraLayers(nn.Module):
    """A chain of :class:`ExtraBlock`; returns the output of every block (one level each)."""

    def __init__(self, in_channels: int, channels: Sequence[int], norm: str = "BN", shortcut: str = "strided"):
        super().__init__()
        self.out_channels = list(channels)
        ins = [in_channels, *channels[:-1]]
        self.blocks = nn.ModuleList(ExtraBlock(i, o, norm, shortcut) for i, o in zip(ins, channels))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        return outs
