"""Freezing part of a detector for fine-tuning: weights (requires_grad False) and BatchNorm
statistics (BN converted to FrozenBatchNorm2d, so train() does not update them)."""

from __future__ import annotations

import logging

from detectron2.layers import FrozenBatchNorm2d
from torch import nn

from ..config.errors import ConfigError
from ..config.freeze import FREEZE_CHOICES

logger = logging.getLogger(__name__)


def _freeze_module(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.requires_grad_(False)
    return FrozenBatchNorm2d.convert_frozen_batchnorm(module)


def freeze_part(model: nn.Module, what: str) -> list[str]:
    """Freeze ``what`` of ``model`` (see SCRATCHDET.FREEZE); return the frozen module names."""
    if not what:
        return []
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ConfigError(f"SCRATCHDET.FREEZE={what!r}: the model has no 'backbone' to freeze.")
    if what == "backbone+neck":
        model.backbone = _freeze_module(backbone)
        frozen = ["backbone"]
    elif what == "backbone":
        if hasattr(backbone, "bottom_up"):
            backbone.bottom_up = _freeze_module(backbone.bottom_up)
            frozen = ["backbone.bottom_up"]
        else:
            model.backbone = _freeze_module(backbone)
            frozen = ["backbone"]
    else:
        raise ConfigError(f"SCRATCHDET.FREEZE={what!r}: use one of {FREEZE_CHOICES}.")
    logger.info(f"Frozen (weights and BN statistics): {frozen}")
    return frozen
