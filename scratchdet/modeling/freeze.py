"""Freezing part of a detector for fine-tuning: weights (requires_grad False) and BatchNorm
statistics (BN converted to FrozenBatchNorm2d, so train() does not update them)."""

from __future__ import annotations

import logging

from detectron2.layers import FrozenBatchNorm2d
from torch import nn

from ..config.checks import ConfigError

logger = logging.getLogger(__name__)
FREEZE_CHOICES = '"", "backbone", "backbone+neck" or "stages:N"'


def _freeze_module(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.requires_grad_(False)
    return FrozenBatchNorm2d.convert_frozen_batchnorm(module)


def freeze_part(model: nn.Module, what: str) -> list[str]:
    """Freeze ``what`` of ``model`` (see SCRATCHDET.HANDOVER.FREEZE); return the frozen module names."""
    if not what:
        return []
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ConfigError(f"SCRATCHDET.HANDOVER.FREEZE={what!r}: the model has no 'backbone' to freeze.")
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
    elif what.startswith("stages:"):
        try:
            n = int(what.split(":", 1)[1])
        except ValueError:
            raise ConfigError(f"SCRATCHDET.HANDOVER.FREEZE={what!r}: use {FREEZE_CHOICES}.") from None
        net = getattr(backbone, "bottom_up", backbone)
        if not hasattr(net, "freeze"):
            raise ConfigError(f"SCRATCHDET.HANDOVER.FREEZE={what!r} needs a ResNet backbone (with .freeze(n)).")
        # detectron2's ResNet.freeze: stem at 1, res2..res(n) for n >= 2, BN to FrozenBN included.
        net.freeze(n)
        frozen = ["stem"] + [f"res{i}" for i in range(2, n + 1)]
    else:
        raise ConfigError(f"SCRATCHDET.HANDOVER.FREEZE={what!r}: use {FREEZE_CHOICES}.")
    logger.info(f"Frozen for fine-tuning (weights and BN statistics): {frozen}")
    return frozen
