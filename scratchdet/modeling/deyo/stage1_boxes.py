"""Stage 1's trained box branch, re-used in stage 2 to give the queries their first boxes.

DEYO's decoder is a subclass of stage 1's (YOLOv8) detection head: at every position it decodes
stage 1's box prediction, and the positions the new encoder score head selects start the decoder
with those boxes ("dynamic anchors + static content"). Here the branch is detectron2's RetinaNet
or FCOS box subnet + box predictor, built exactly as in stage 1 and kept under the same names
(``bbox_subnet.*``, ``bbox_pred.*``; the detector stores it as ``head``), so the two-phase
hand-over copies stage 1's weights into it. It is frozen: no gradient, always in eval mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from detectron2.layers import ShapeSpec
from detectron2.modeling.anchor_generator import DefaultAnchorGenerator, build_anchor_generator
from detectron2.modeling.box_regression import Box2BoxTransform, Box2BoxTransformLinear
from detectron2.modeling.meta_arch.fcos import FCOSHead
from detectron2.modeling.meta_arch.retinanet import RetinaNetHead
from torch import Tensor, nn
from torchvision.ops import box_convert

STAGE1_ARCHS = ("RetinaNet", "FCOS")


class Stage1BoxBranch(nn.Module):
    """Stage 1's box subnet and predictor with its anchor/point decoding.

    ``forward`` returns every position's decoded box, as (N, sum of H*W*A over ``in_features``, 4)
    normalised (cx, cy, w, h) in the padded image, in the order of the decoder's memory
    (level, row, column, anchor): the positions' candidate reference boxes.
    """

    def __init__(self, bbox_subnet: nn.Module, bbox_pred: nn.Module, anchor_generator: nn.Module,
                 box2box_transform, head_in_features: Sequence[str]):
        super().__init__()
        self.bbox_subnet = bbox_subnet
        self.bbox_pred = bbox_pred
        self.anchor_generator = anchor_generator
        self.box2box_transform = box2box_transform
        self.head_in_features = list(head_in_features)
        self.num_anchors = int(anchor_generator.num_cell_anchors[0])
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    @classmethod
    def from_config(cls, cfg, shapes: dict[str, ShapeSpec], arch: str) -> Stage1BoxBranch:
        """Built from stage 1's head keys (MODEL.RETINANET.*, MODEL.ANCHOR_GENERATOR.*), with the
        very classes stage 1 builds, so that module names and shapes match its checkpoint."""
        r = cfg.MODEL.RETINANET
        head_shapes = [shapes[f] for f in r.IN_FEATURES]
        conv_dims = [head_shapes[0].channels] * r.NUM_CONVS
        if arch == "RetinaNet":
            anchor_generator = build_anchor_generator(cfg, head_shapes)
            head = RetinaNetHead(input_shape=head_shapes, num_classes=1, conv_dims=conv_dims, norm=r.NORM,
                                 num_anchors=anchor_generator.num_cell_anchors[0])
            transform = Box2BoxTransform(weights=r.BBOX_REG_WEIGHTS)
        elif arch == "FCOS":
            strides = [s.stride for s in head_shapes]
            # As detectron2's FCOS: one point per position, a box of the stride's size.
            anchor_generator = DefaultAnchorGenerator(sizes=[[s] for s in strides], aspect_ratios=[1.0], strides=strides)
            head = FCOSHead(input_shape=head_shapes, num_classes=1, conv_dims=conv_dims, norm=r.NORM)
            transform = Box2BoxTransformLinear(normalize_by_size=True)
        else:
            raise ValueError(f"stage-1 architecture must be one of {STAGE1_ARCHS}, got {arch!r}")
        return cls(head.bbox_subnet, head.bbox_pred, anchor_generator, transform, r.IN_FEATURES)

    def train(self, mode: bool = True) -> Stage1BoxBranch:
        # Frozen: BN statistics (of a BN head) must stay stage 1's whatever the trainer asks.
        return super().train(False)

    @torch.no_grad()
    def forward(self, features: dict[str, Tensor], out_features: Sequence[str], padded_size: tuple[int, int]) -> Tensor:
        # The subnet runs on all of stage 1's levels, in stage 1's order: a BN head cycles through
        # one BN per level (detectron2's CycleBatchNormList), so skipping a level would shift it.
        feats = [features[f] for f in self.head_in_features]
        deltas = [self.bbox_pred(self.bbox_subnet(x)) for x in feats]
        anchors = self.anchor_generator(feats)
        h, w = padded_size
        scale = torch.tensor([w, h, w, h], dtype=feats[0].dtype, device=feats[0].device)
        out = []
        for f in out_features:
            lvl = self.head_in_features.index(f)
            d = deltas[lvl]
            n = d.shape[0]
            # (N, A*4, H, W) -> (N, H*W*A, 4): detectron2's anchor order (position major, anchor minor).
            d = d.view(n, -1, 4, d.shape[-2], d.shape[-1]).permute(0, 3, 4, 1, 2).reshape(n, -1, 4)
            a = anchors[lvl].tensor
            boxes = self.box2box_transform.apply_deltas(d.reshape(-1, 4), a.repeat(n, 1)).view(n, -1, 4)
            # Clipped to the padded image, normalised by it: the frame of the decoder's boxes.
            boxes = torch.minimum(boxes.clamp(min=0), scale) / scale
            out.append(box_convert(boxes, "xyxy", "cxcywh"))
        return torch.cat(out, 1)
