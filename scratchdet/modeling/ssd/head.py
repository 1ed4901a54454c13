"""SSD's prediction head with ScratchDet's norm: per level, a 3x3 conv for the class scores and
one for the box deltas of every default box, each followed by a norm.

BN on the prediction convs is ScratchDet's "BN in the detection head" (Caffe SSD's
``use_batchnorm`` multibox head: conv, BN, scale/shift, no ReLU); with it, from-scratch training
stays stable at large learning rates (their VOC07 ablation: 78.0 -> 78.7 mAP with BN added to
the head). With ``norm=""`` the convs have a bias and no norm.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from detectron2.layers import Conv2d, get_norm
from fvcore.nn import weight_init
from torch import nn

__all__ = ["SSDHead", "SSDLevelPredictor"]


class SSDLevelPredictor(nn.Module):
    """The two prediction convs of one level (the names keep norm_policy's MSRA fill off them)."""

    def __init__(self, in_channels: int, num_boxes: int, num_classes: int, norm: str = "BN"):
        super().__init__()
        bias = not norm
        k_cls, k_box = num_boxes * (num_classes + 1), num_boxes * 4
        self.cls_score = Conv2d(in_channels, k_cls, 3, padding=1, bias=bias, norm=get_norm(norm, k_cls))
        self.bbox_pred = Conv2d(in_channels, k_box, 3, padding=1, bias=bias, norm=get_norm(norm, k_box))
        for conv in (self.cls_score, self.bbox_pred):
            weight_init.c2_xavier_fill(conv)  # SSD's xavier init, zero bias

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cls_score(x), self.bbox_pred(x)


def _flatten(x: torch.Tensor, k: int) -> torch.Tensor:
    # (N, A*K, H, W) -> (N, H*W*A, K): positions row-major, then the boxes of a position,
    # the order of DefaultBoxGenerator.
    n, _, h, w = x.shape
    return x.view(n, -1, k, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, k)


class SSDHead(nn.Module):
    """One :class:`SSDLevelPredictor` per level (levels differ in channels and boxes).

    Args:
        in_channels: channels of each level's map.
        num_boxes: default boxes per position of each level.
        num_classes: object classes; the scores have one more, background, last.
        norm: norm after each prediction conv ("" for none).
    """

    def __init__(self, in_channels: Sequence[int], num_boxes: Sequence[int], num_classes: int, norm: str = "BN"):
        super().__init__()
        if len(in_channels) != len(num_boxes):
            raise ValueError(f"{len(in_channels)} levels of features but {len(num_boxes)} of default boxes.")
        self.num_classes = num_classes
        self.levels = nn.ModuleList(
            SSDLevelPredictor(c, a, num_classes, norm) for c, a in zip(in_channels, num_boxes)
        )

    def forward(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits (N, P, num_classes + 1) and box deltas (N, P, 4) of the P default boxes."""
        logits, deltas = [], []
        for x, level in zip(features, self.levels):
            cls, box = level(x)
            logits.append(_flatten(cls, self.num_classes + 1))
            deltas.append(_flatten(box, 4))
        return torch.cat(logits, dim=1), torch.cat(deltas, dim=1)
