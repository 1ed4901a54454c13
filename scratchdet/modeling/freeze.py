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


def part_to_freeze(model: nn.Module, what: str) -> tuple[str, nn.Module] | None:
    """(name, module) of the part of ``model`` that SCRATCHDET.FREEZE ``what`` names; None for "".
    The one reading of the key: :func:`freeze_part` and the models that keep a frozen part in
    eval mode themselves (DEYO's stage 2) freeze the same module."""
    if not what:
        return None
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        raise ConfigError(f"SCRATCHDET.FREEZE={what!r}: the model has no 'backbone' to freeze.")
    if what == "backbone+neck":
        return "backbone", backbone
    if what == "backbone":
        if hasattr(backbone, "bottom_up"):
            return "backbone.bottom_up", backbone.bottom_up
        return "backbone", backbone
    raise ConfigError(f"SCRATCHDET.FREEZE={what!r}: use one of {FREEZE_CHOICES}.")


def freeze_part(model: nn.Module, what: str) -> list[str]:
    """Freeze ``what`` of ``model`` (see SCRATCHDET.FREEZE); return the frozen module names."""
    part = part_to_freeze(model, what)
    if part is None:
        return []
    name, module = part
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent), leaf, _freeze_module(module))
    logger.info(f"Frozen (weights and BN statistics): {[name]}")
    return [name]
