"""What a config key naming backbone features is (:class:`FeatureUse`), and the checks of
those keys that need the config alone.

A stem of stride 2 (Root-ResNet) renames the FPN levels (``p{log2 stride}``: p1..p5 instead of
p2..p6), so a config written for detectron2's ResNet fails deep inside the model with a KeyError
on a feature name. The check against the backbone's real outputs builds the backbone, so it lives
with the engine (``scratchdet.engine.setup.feature_checks``). Which keys a meta-architecture reads it
declares itself, in its ``config_needs`` class attribute (``scratchdet.modeling.needs``, which
also holds detectron2's own meta-architectures): nothing here changes on import.
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


def fmt_value(value: object) -> str:
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
