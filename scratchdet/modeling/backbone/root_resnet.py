"""Root-ResNet (ScratchDet, Zhu et al. 2019): detectron2's ResNet with a "root" stem.

The root stem replaces ResNet's 7x7 stride-2 conv + stride-2 max-pool (4x down-sampling before
res2) by three 3x3 stride-1 conv-norm-ReLU layers and a 2x2 stride-2 max-pool, so res2..res5 run
at strides 2, 4, 8, 16 instead of 4, 8, 16, 32. FPN levels are named ``p{log2 stride}``, hence
a root FPN over res2..res5 outputs p1..p4 (+ its top block), not p2..p5: the builders here name
the top block's input and outputs from the strides, and ``scratchdet.config.feature_checks``
checks that the heads' IN_FEATURES and anchors follow.

Builders registered in BACKBONE_REGISTRY (the stem comes from ``MODEL.RESNETS.STEM_TYPE``):

- ``build_root_resnet_backbone``: the ResNet alone (outputs ``MODEL.RESNETS.OUT_FEATURES``);
- ``build_root_resnet_fpn_backbone``: + FPN and max-pool top levels (as Faster/Mask R-CNN);
- ``build_retinanet_root_resnet_fpn_backbone``: + FPN and stride-2 conv top levels (as RetinaNet).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from detectron2.config import CfgNode
from detectron2.layers import CNNBlockBase, Conv2d, ShapeSpec, get_norm
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone import FPN, ResNet
from detectron2.modeling.backbone.resnet import BasicStem, build_resnet_backbone
from fvcore.nn import weight_init
from torch import nn

from ...config.errors import ConfigError
from .fpn_top_blocks import LastLevelConvs, LastLevelMaxPools

__all__ = [
    "STEM_TYPES",
    "RootStem",
    "build_resnet_stem",
    "build_retinanet_root_resnet_fpn_backbone",
    "build_root_resnet_backbone",
    "build_root_resnet_fpn_backbone",
    "level_name",
    "resolve_stem_type",
]

STEM_TYPES = ("basic", "root")
# Builders of this module: MODEL.RESNETS.STEM_TYPE "" means "root" for them.
ROOT_BUILDERS = (
    "build_root_resnet_backbone",
    "build_root_resnet_fpn_backbone",
    "build_retinanet_root_resnet_fpn_backbone",
)


class RootStem(CNNBlockBase):
    """The ScratchDet root block: three 3x3 stride-1 conv-norm-ReLU, then a 2x2 stride-2
    max-pool. Stride 2: it keeps twice the resolution of :class:`BasicStem` for res2, which the
    paper finds better for small objects when training from scratch (78.5 vs 73.1 mAP, R18)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 64, norm: str = "BN"):
        super().__init__(in_channels, out_channels, 2)
        self.in_channels = in_channels
        # Without a norm the conv needs its own bias (get_norm returns None for "").
        bias = not norm
        for i, cin in enumerate((in_channels, out_channels, out_channels), start=1):
            conv = Conv2d(
                cin, out_channels, kernel_size=3, stride=1, padding=1, bias=bias,
                norm=get_norm(norm, out_channels),
            )
            weight_init.c2_msra_fill(conv)
            self.add_module(f"conv{i}", conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu_(self.conv1(x))
        x = F.relu_(self.conv2(x))
        x = F.relu_(self.conv3(x))
        return F.max_pool2d(x, kernel_size=2, stride=2)


def level_name(stride: int) -> str:
    """FPN's name for a level of this stride: ``p{log2 stride}``."""
    return f"p{int(math.log2(stride))}"


def resolve_stem_type(cfg: CfgNode) -> str:
    """``MODEL.RESNETS.STEM_TYPE``, with "" meaning "root" (the default of this module's builders)."""
    stem_type = cfg.MODEL.RESNETS.get("STEM_TYPE", "") or "root"
    if stem_type not in STEM_TYPES:
        raise ConfigError(
            f"MODEL.RESNETS.STEM_TYPE='{stem_type}' is unknown to {cfg.MODEL.BACKBONE.NAME}: "
            f"set it to one of {', '.join(repr(s) for s in STEM_TYPES)} (or '' for 'root')."
        )
    return stem_type


def build_resnet_stem(cfg: CfgNode, input_shape: ShapeSpec) -> CNNBlockBase:
    """The stem selected by ``MODEL.RESNETS.STEM_TYPE``: :class:`RootStem` (stride 2) or
    detectron2's :class:`BasicStem` (stride 4), with ``STEM_OUT_CHANNELS`` and ``NORM``."""
    cls = RootStem if resolve_stem_type(cfg) == "root" else BasicStem
    return cls(
        in_channels=input_shape.channels,
        out_channels=cfg.MODEL.RESNETS.STEM_OUT_CHANNELS,
        norm=cfg.MODEL.RESNETS.NORM,
    )


@BACKBONE_REGISTRY.register()
def build_root_resnet_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> ResNet:
    """detectron2's ResNet (``MODEL.RESNETS.*``: DEPTH 18/34 basic blocks, 50/101/152
    bottlenecks, NORM, OUT_FEATURES, ...) with the stem of ``MODEL.RESNETS.STEM_TYPE``.

    Outputs (name: stride, channels for depth 18/34 | 50+, with RES2_OUT_CHANNELS at its default):

    ========  ==================  ==================  ==========
    name      stride root stem    stride basic stem   channels
    ========  ==================  ==================  ==========
    stem      2                   4                   STEM_OUT_CHANNELS (64)
    res2      2                   4                   64 | 256
    res3      4                   8                   128 | 512
    res4      8                   16                  256 | 1024
    res5      16                  32                  512 | 2048
    ========  ==================  ==================  ==========

    Only the features listed in ``MODEL.RESNETS.OUT_FEATURES`` are returned, and stages after
    the last of them are not built. Usable standalone (e.g. by a single-shot detector that adds
    its own extra layers): ``build_root_resnet_backbone(cfg, ShapeSpec(channels=3))``.
    """
    stem = build_resnet_stem(cfg, input_shape)
    # Reuse detectron2's stage construction (block types, dilation, deform, its asserts) and
    # swap the stem; freezing happens once, on the final model.
    d2_cfg = cfg.clone()
    d2_cfg.defrost()
    d2_cfg.MODEL.BACKBONE.FREEZE_AT = 0
    stages = [list(stage) for stage in build_resnet_backbone(d2_cfg, input_shape).stages]
    return ResNet(
        stem, stages, out_features=cfg.MODEL.RESNETS.OUT_FEATURES, freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT
    )


def _fpn_in_shapes(cfg: CfgNode, bottom_up: ResNet) -> dict[str, ShapeSpec]:
    shapes = bottom_up.output_shape()
    in_features = list(cfg.MODEL.FPN.IN_FEATURES)
    missing = [f for f in in_features if f not in shapes]
    if missing:
        raise ConfigError(
            f"MODEL.FPN.IN_FEATURES={in_features} uses {missing}, which MODEL.RESNETS.OUT_FEATURES="
            f"{list(cfg.MODEL.RESNETS.OUT_FEATURES)} does not output: add them to "
            f"MODEL.RESNETS.OUT_FEATURES or set MODEL.FPN.IN_FEATURES to a contiguous part of it."
        )
    return {f: shapes[f] for f in in_features}


def _top_block_input(cfg: CfgNode, in_shapes: dict[str, ShapeSpec], allow_bottom_up: bool) -> str:
    """The top block's input: MODEL.FPN.TOP_BLOCK_IN_FEATURE, or by default the last FPN level
    (max-pool) / the backbone feature under it (conv, "C5" as in RetinaNet).

    FPN names the top block's outputs from the stride of the last FPN level, so its input must
    have that stride, whatever the stem.
    """
    last_in = list(in_shapes)[-1]
    last_level = level_name(in_shapes[last_in].stride)
    valid = [last_level] + ([last_in] if allow_bottom_up else [])
    key = cfg.MODEL.FPN.get("TOP_BLOCK_IN_FEATURE", "")
    if not key:
        return valid[-1]
    if key not in valid:
        names = " or ".join(repr(v) for v in valid)
        raise ConfigError(
            f"MODEL.FPN.TOP_BLOCK_IN_FEATURE='{key}' does not fit {cfg.MODEL.BACKBONE.NAME}: with "
            f"MODEL.RESNETS.STEM_TYPE='{resolve_stem_type(cfg)}' and MODEL.FPN.IN_FEATURES="
            f"{list(in_shapes)} the last FPN level is {last_level} (stride {in_shapes[last_in].stride}) "
            f"and the top block's levels are numbered after it, so its input must be {names}: set "
            f"MODEL.FPN.TOP_BLOCK_IN_FEATURE to {names} (or '' for the default)."
        )
    return key


def _top_block_num_levels(cfg: CfgNode, default: int) -> int:
    n = cfg.MODEL.FPN.get("TOP_BLOCK_NUM_LEVELS", -1)
    if n < -1:
        raise ConfigError(
            f"MODEL.FPN.TOP_BLOCK_NUM_LEVELS={n}: use a number >= 0, or -1 for {cfg.MODEL.BACKBONE.NAME}'s "
            f"default ({default})."
        )
    return default if n == -1 else n


def _build_fpn(cfg: CfgNode, bottom_up: ResNet, top_block: nn.Module) -> FPN:
    return FPN(
        bottom_up=bottom_up,
        in_features=cfg.MODEL.FPN.IN_FEATURES,
        out_channels=cfg.MODEL.FPN.OUT_CHANNELS,
        norm=cfg.MODEL.FPN.NORM,
        top_block=top_block,
        fuse_type=cfg.MODEL.FPN.FUSE_TYPE,
    )


@BACKBONE_REGISTRY.register()
def build_root_resnet_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> FPN:
    """Root-ResNet + FPN over ``MODEL.FPN.IN_FEATURES`` + ``MODEL.FPN.TOP_BLOCK_NUM_LEVELS``
    (default 1) max-pooled levels, as detectron2's ``build_resnet_fpn_backbone``.

    With IN_FEATURES res2..res5: root stem p1..p4 + p5 (strides 2..32); basic stem p2..p5 + p6
    (strides 4..64, detectron2's names). All levels have ``MODEL.FPN.OUT_CHANNELS`` channels.
    """
    bottom_up = build_root_resnet_backbone(cfg, input_shape)
    in_shapes = _fpn_in_shapes(cfg, bottom_up)
    top_block = LastLevelMaxPools(
        in_feature=_top_block_input(cfg, in_shapes, allow_bottom_up=False),
        num_levels=_top_block_num_levels(cfg, default=1),
    )
    return _build_fpn(cfg, bottom_up, top_block)


@BACKBONE_REGISTRY.register()
def build_retinanet_root_resnet_fpn_backbone(cfg: CfgNode, input_shape: ShapeSpec) -> FPN:
    """Root-ResNet + FPN over ``MODEL.FPN.IN_FEATURES`` + ``MODEL.FPN.TOP_BLOCK_NUM_LEVELS``
    (default 2) stride-2 conv levels from ``MODEL.FPN.TOP_BLOCK_IN_FEATURE`` (default: the last
    backbone feature, as RetinaNet's P6/P7 from C5).

    RetinaNet's P3-P7 (strides 8..128) with a root stem: IN_FEATURES [res4, res5] (p3, p4) and
    TOP_BLOCK_NUM_LEVELS 3 (p5, p6, p7). With IN_FEATURES [res3, res4, res5] and the default 2
    levels: p2..p6 (strides 4..64). With a basic stem this is detectron2's P3-P7 RetinaNet FPN.
    """
    bottom_up = build_root_resnet_backbone(cfg, input_shape)
    in_shapes = _fpn_in_shapes(cfg, bottom_up)
    in_feature = _top_block_input(cfg, in_shapes, allow_bottom_up=True)
    last_stride = list(in_shapes.values())[-1].stride
    # From a backbone feature (C5) the first conv maps its channels; from an FPN level, OUT_CHANNELS.
    in_channels = in_shapes[in_feature].channels if in_feature in in_shapes else cfg.MODEL.FPN.OUT_CHANNELS
    top_block = LastLevelConvs(
        in_channels,
        cfg.MODEL.FPN.OUT_CHANNELS,
        in_feature=in_feature,
        first_level=int(math.log2(last_stride)) + 1,
        num_levels=_top_block_num_levels(cfg, default=2),
    )
    return _build_fpn(cfg, bottom_up, top_block)
