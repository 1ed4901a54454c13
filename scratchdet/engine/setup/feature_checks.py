"""Checks that the heads' feature names and anchors match what the backbone outputs.

These checks build the backbone on the ``meta`` device (no memory, no compute), read its
``output_shape()`` and say which key to set to what. They build part of a model, so they run
with the engine's set-up (:func:`scratchdet.engine.setup.checks.check_run_config`); the keys they read
are the ``feature_uses`` the configured meta-architecture declares
(:func:`scratchdet.modeling.needs.config_needs`).
"""

from __future__ import annotations

import itertools
import logging

import torch
from detectron2.config import CfgNode
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_backbone

from ... import modeling  # noqa: F401  (registers scratchdet's backbones and meta-architectures)
from ...config.errors import ConfigError
from ...config.feature_checks import builder_key_errors, fmt_value, suggest_anchor_sizes
from ...config.keys import get_key
from ...modeling.needs import config_needs

logger = logging.getLogger(__name__)


def backbone_output_shapes(cfg: CfgNode) -> tuple[dict[str, ShapeSpec], int] | None:
    """``output_shape()`` of the backbone ``cfg`` builds and the number of its FPN top-block
    levels (0 without one), or None when it cannot be built here (its builder will then report
    the problem when the model is built). :class:`ConfigError` from a builder propagates."""
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


def feature_errors(cfg: CfgNode) -> list[str]:
    """Messages for every head feature key (the meta-architecture's declared ``feature_uses``) and
    anchor setting that does not match the backbone."""
    errors = builder_key_errors(cfg)
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
    for use in config_needs(cfg).feature_uses:
        if not use.when(cfg):
            continue
        value = list(get_key(cfg, use.key))
        suggested = names if use.top_levels or num_top == 0 else names[: len(names) - num_top]
        missing = [f for f in value if f not in shapes]
        if missing:
            errors.append(
                f"{use.key}={value} uses {missing}, which the backbone {source} does not output "
                f"(it outputs {listing}): set {use.key} {fmt_value(suggested)}."
            )
            continue
        if use.pyramid and any(
            shapes[b].stride != 2 * shapes[a].stride for a, b in itertools.pairwise(value)
        ):
            errors.append(
                f"{use.key}={value}: these levels must be consecutive, from high to low resolution "
                f"(strides {[shapes[f].stride for f in value]}): set {use.key} {fmt_value(suggested)}."
            )
        if use.anchors:
            strides = [shapes[f].stride for f in value]
            for akey in ("SIZES", "ASPECT_RATIOS"):
                n = len(cfg.MODEL.ANCHOR_GENERATOR[akey])
                if n not in (1, len(value)):
                    hint = suggest_anchor_sizes(strides, "RETINANET" in use.key) if akey == "SIZES" else "[[0.5, 1.0, 2.0]]"
                    errors.append(
                        f"MODEL.ANCHOR_GENERATOR.{akey} has {n} entries but {use.key} has {len(value)} "
                        f"levels ({', '.join(value)}): give one list per level (or one list for all), "
                        f"e.g. MODEL.ANCHOR_GENERATOR.{akey} {hint}."
                    )
    return errors
