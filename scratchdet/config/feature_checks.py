"""Checks that the heads' feature names and anchors match what the backbone outputs.

A stem of stride 2 (Root-ResNet) renames the FPN levels (``p{log2 stride}``: p1..p5 instead of
p2..p6), so a config written for detectron2's ResNet fails deep inside the model with a KeyError
on a feature name. These checks build the backbone on the ``meta`` device (no memory, no
compute), read its ``output_shape()`` and say which key to set to what.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec

from .checks import ConfigError
from .keys import get_key

logger = logging.getLogger(__name__)

# detectron2's ResNet builders, which always use the basic stem, and their Root-ResNet twin.
D2_TO_ROOT_BUILDER = {
    "build_resnet_backbone": "build_root_resnet_backbone",
    "build_resnet_fpn_backbone": "build_root_resnet_fpn_backbone",
    "build_retinanet_resnet_fpn_backbone": "build_retinanet_root_resnet_fpn_backbone",
}


@dataclass(frozen=True)
class FeatureUse:
    """A config key listing backbone features a head reads.

    Args:
        key: e.g. "MODEL.RPN.IN_FEATURES".
        anchors: the head places ``MODEL.ANCHOR_GENERATOR`` anchors on these levels.
        top_levels: the head usually reads the FPN top block's levels too (RPN, RetinaNet), or
            not (ROI heads, which pool from p2..p5 in detectron2): used for the suggested value.
        pyramid: the levels must be consecutive (ROIPooler assigns boxes to levels by size).
        when: the key is only read when this holds (e.g. the RPN is the proposal generator).
    """

    key: str
    anchors: bool = False
    top_levels: bool = True
    pyramid: bool = False
    when: Callable[[CfgNode], bool] = lambda cfg: True


def _uses_rpn(cfg: CfgNode) -> bool:
    return cfg.MODEL.PROPOSAL_GENERATOR.NAME in ("RPN", "RRPN")


_RPN = FeatureUse("MODEL.RPN.IN_FEATURES", anchors=True, when=_uses_rpn)
_ROI = FeatureUse("MODEL.ROI_HEADS.IN_FEATURES", top_levels=False, pyramid=True)
_SEM_SEG = FeatureUse("MODEL.SEM_SEG_HEAD.IN_FEATURES", top_levels=False)

# Per META_ARCHITECTURE, the keys naming backbone features. Other meta-architectures add theirs
# with register_feature_uses (unknown ones are not checked).
FEATURE_USES: dict[str, list[FeatureUse]] = {
    "GeneralizedRCNN": [_RPN, _ROI],
    "ProposalNetwork": [_RPN],
    "RetinaNet": [FeatureUse("MODEL.RETINANET.IN_FEATURES", anchors=True)],
    "PanopticFPN": [_RPN, _ROI, _SEM_SEG],
    "SemanticSegmentor": [_SEM_SEG],
}


def register_feature_uses(meta_arch: str, uses: list[FeatureUse]) -> None:
    """Declare the feature keys of a meta-architecture so that they are checked too."""
    FEATURE_USES[meta_arch] = list(uses)


def _fmt(value) -> str:
    """A value as it is written on the command line."""
    return '"' + repr(value).replace(" ", "") + '"' if isinstance(value, (list, tuple)) else repr(value)


def backbone_output_shapes(cfg: CfgNode) -> tuple[dict[str, ShapeSpec], int] | None:
    """``output_shape()`` of the backbone ``cfg`` builds and the number of its FPN top-block
    levels (0 without one), or None when it cannot be built here (its builder will then report
    the problem when the model is built). :class:`ConfigError` from a builder propagates."""
    from detectron2.modeling import build_backbone

    import scratchdet.modeling  # noqa: F401  (registers scratchdet's backbones)

    try:
        with torch.device("meta"):
            backbone = build_backbone(cfg)
    except ConfigError:
        raise
    # Any other failure (e.g. a builder calling .item(), which meta tensors lack) is left to
    # build_model, which reports it with the builder's own message.
    except Exception as e:
        logger.debug("Backbone %s not built on the meta device (%s); skipping the feature checks.",
                     cfg.MODEL.BACKBONE.NAME, e)
        return None
    top_block = getattr(backbone, "top_block", None)
    return dict(backbone.output_shape()), getattr(top_block, "num_levels", 0) if top_block is not None else 0


def _builder_key_errors(cfg: CfgNode) -> list[str]:
    """Root-ResNet keys set while detectron2's own builder (which ignores them) is selected."""
    name = cfg.MODEL.BACKBONE.NAME
    if name not in D2_TO_ROOT_BUILDER:
        return []
    root = D2_TO_ROOT_BUILDER[name]
    errors = []
    if cfg.MODEL.RESNETS.get("STEM_TYPE", "") == "root":
        errors.append(
            f"MODEL.RESNETS.STEM_TYPE='root' but MODEL.BACKBONE.NAME='{name}' is detectron2's builder, "
            f"which always uses the basic stem: set MODEL.BACKBONE.NAME {root}."
        )
    for key, default in (("TOP_BLOCK_IN_FEATURE", ""), ("TOP_BLOCK_NUM_LEVELS", -1)):
        if cfg.MODEL.FPN.get(key, default) != default and "fpn" in name:
            errors.append(
                f"MODEL.FPN.{key}={cfg.MODEL.FPN[key]!r} is ignored by detectron2's '{name}': "
                f"set MODEL.BACKBONE.NAME {root} (with MODEL.RESNETS.STEM_TYPE basic for the "
                f"usual stem), or reset MODEL.FPN.{key} to {default!r}."
            )
    return errors


def _suggest_sizes(strides: list[int], retinanet: bool) -> str:
    if retinanet:  # detectron2's RetinaNet: 3 octave scales from 4 x stride
        bases = [4 * s for s in strides]
        return f"[[x, x * 2 ** (1 / 3), x * 2 ** (2 / 3)] for x in {bases}] (4 x stride, as detectron2's RetinaNet)"
    return f"{_fmt([[8 * s] for s in strides])} (8 x stride, as detectron2's FPN)"


def feature_errors(cfg: CfgNode) -> list[str]:
    """Messages for every head feature key and anchor setting that does not match the backbone."""
    errors = _builder_key_errors(cfg)
    try:
        built = backbone_output_shapes(cfg)
    except ConfigError as e:
        return errors + [str(e)]
    if built is None:
        return errors
    shapes, num_top = built
    names = list(shapes)
    listing = ", ".join(f"{n} (stride {s.stride})" for n, s in shapes.items())
    source = f"{cfg.MODEL.BACKBONE.NAME}"
    if "STEM_TYPE" in cfg.MODEL.RESNETS and "resnet" in source:
        source += f" with MODEL.RESNETS.STEM_TYPE={cfg.MODEL.RESNETS.STEM_TYPE!r}"
    for use in FEATURE_USES.get(cfg.MODEL.META_ARCHITECTURE, []):
        if not use.when(cfg):
            continue
        value = list(get_key(cfg, use.key))
        suggested = names if use.top_levels or num_top == 0 else names[: len(names) - num_top]
        missing = [f for f in value if f not in shapes]
        if missing:
            errors.append(
                f"{use.key}={value} uses {missing}, which the backbone {source} does not output "
                f"(it outputs {listing}): set {use.key} {_fmt(suggested)}."
            )
            continue
        if use.pyramid and any(
            shapes[b].stride != 2 * shapes[a].stride for a, b in itertools.pairwise(value)
        ):
            errors.append(
                f"{use.key}={value}: these levels must be consecutive, from high to low resolution "
                f"(strides {[shapes[f].stride for f in value]}): set {use.key} {_fmt(suggested)}."
            )
        if use.anchors:
            strides = [shapes[f].stride for f in value]
            for akey in ("SIZES", "ASPECT_RATIOS"):
                n = len(cfg.MODEL.ANCHOR_GENERATOR[akey])
                if n not in (1, len(value)):
                    hint = _suggest_sizes(strides, "RETINANET" in use.key) if akey == "SIZES" else "[[0.5, 1.0, 2.0]]"
                    errors.append(
                        f"MODEL.ANCHOR_GENERATOR.{akey} has {n} entries but {use.key} has {len(value)} "
                        f"levels ({', '.join(value)}): give one list per level (or one list for all), "
                        f"e.g. MODEL.ANCHOR_GENERATOR.{akey} {hint}."
                    )
    return errors
