"""Which config keys name backbone features, per meta-architecture (the declarations the feature
checks read), and the checks of those keys that need the config alone.

A stem of stride 2 (Root-ResNet) renames the FPN levels (``p{log2 stride}``: p1..p5 instead of
p2..p6), so a config written for detectron2's ResNet fails deep inside the model with a KeyError
on a feature name. The check against the backbone's real outputs builds the backbone, so it lives
with the engine (``scratchdet.engine.feature_checks``); meta-architectures declare their keys
here with :func:`register_feature_uses`, which needs no model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from detectron2.config import CfgNode

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


def fmt_value(value) -> str:
    """A value as it is written on the command line."""
    return '"' + repr(value).replace(" ", "") + '"' if isinstance(value, (list, tuple)) else repr(value)


def builder_key_errors(cfg: CfgNode) -> list[str]:
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


def suggest_anchor_sizes(strides: list[int], retinanet: bool) -> str:
    if retinanet:  # detectron2's RetinaNet: 3 octave scales from 4 x stride
        bases = [4 * s for s in strides]
        return f"[[x, x * 2 ** (1 / 3), x * 2 ** (2 / 3)] for x in {bases}] (4 x stride, as detectron2's RetinaNet)"
    return f"{fmt_value([[8 * s] for s in strides])} (8 x stride, as detectron2's FPN)"
