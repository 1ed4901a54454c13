"""The one place that decides the norms of a detector, and the from-scratch initialisation.

- ``scratchdet.config.norm_policy.apply_norm_policy`` (config, once at set-up, the config half of
  the policy): ``SCRATCHDET.NORM.ALL`` sets the norm of every part (backbone, FPN, box
  head, mask head, RetinaNet head, ...) at once; unset, detectron2's per-part keys decide.
- :func:`init_for_scratch` (model, after it is built): MSRA fill of convs and zero-init of the
  last norm of each residual block (``SCRATCHDET.INIT.*``).

No weight decay on norm parameters is detectron2's ``SOLVER.WEIGHT_DECAY_NORM 0.0``.
"""

from __future__ import annotations

import logging

from detectron2.config import CfgNode
from detectron2.modeling.backbone.resnet import (
    BasicBlock,
    BottleneckBlock,
    DeformBottleneckBlock,
)
from fvcore.nn import weight_init
from torch import nn

from scratchdet.config.errors import ConfigError

__all__ = [
    "init_for_scratch",
    "msra_fill_convs",
    "register_residual_block",
    "zero_init_residual",
]

logger = logging.getLogger(__name__)

# Residual block class -> attribute of the conv whose norm ends the residual branch.
_LAST_CONV: dict[type, str] = {BasicBlock: "conv2", BottleneckBlock: "conv3", DeformBottleneckBlock: "conv3"}
# Leaf names of prediction layers, which keep their own init (e.g. RetinaNet's prior-prob bias).
PREDICTOR_NAMES = ("cls_score", "bbox_pred", "predictor", "objectness_logits", "anchor_deltas")


def register_residual_block(cls: type, last_conv: str) -> None:
    """Make :func:`zero_init_residual` handle blocks of ``cls``, whose branch ends with the
    detectron2 ``Conv2d`` (with a ``norm``) at attribute ``last_conv``."""
    _LAST_CONV[cls] = last_conv


def _under(name: str, prefixes: list[str]) -> bool:
    return any(p == "" or name == p or name.startswith(p + ".") for p in prefixes)


def msra_fill_convs(model: nn.Module, prefixes: list[str]) -> int:
    """MSRA-fill (Kaiming normal, fan_out, zero bias: detectron2's ``c2_msra_fill``) every
    ``nn.Conv2d`` under the module names ``prefixes`` ("" for the whole model), except
    prediction layers (:data:`PREDICTOR_NAMES`). Returns the number of convs filled."""
    names = dict(model.named_modules())
    unknown = [p for p in prefixes if p and p not in names]
    if unknown:
        top = ", ".join(n for n, _ in model.named_children())
        raise ConfigError(
            f"SCRATCHDET.INIT.MODULES={list(prefixes)}: {unknown} name no module of this model; "
            f"its top-level modules are {top}."
        )
    count = 0
    for name, module in names.items():
        if isinstance(module, nn.Conv2d) and _under(name, prefixes) and name.rsplit(".", 1)[-1] not in PREDICTOR_NAMES:
            weight_init.c2_msra_fill(module)
            count += 1
    return count


def zero_init_residual(model: nn.Module) -> int:
    """Zero the scale of the last norm of every residual branch, so that each block starts as
    the identity (its shortcut). Norms without a trainable scale (FrozenBN, none) are left as they
    are: zeroing them would switch the branch off for good. Returns the number of norms zeroed."""
    zeroed, skipped = 0, 0
    for module in model.modules():
        attr = next((a for cls, a in _LAST_CONV.items() if isinstance(module, cls)), None)
        if attr is None:
            continue
        norm = getattr(getattr(module, attr), "norm", None)
        if isinstance(getattr(norm, "weight", None), nn.Parameter) and norm.weight.requires_grad:
            nn.init.zeros_(norm.weight)
            zeroed += 1
        else:
            skipped += 1
    if skipped:
        logger.warning("zero_init_residual: %d residual blocks have no trainable last norm (FrozenBN or "
                       "none) and were left as they are.", skipped)
    return zeroed


def init_for_scratch(model: nn.Module, cfg: CfgNode) -> nn.Module:
    """Apply ``SCRATCHDET.INIT.*`` to a freshly built model (before any weights are loaded); the
    values were checked by the set-up step (``config.checks.config_errors``)."""
    init = cfg.SCRATCHDET.INIT
    if init.CONV_FILL == "msra":
        n = msra_fill_convs(model, list(init.MODULES))
        logger.info("MSRA-filled %d convs under %s.", n, list(init.MODULES))
    if init.ZERO_INIT_RESIDUAL:
        n = zero_init_residual(model)
        logger.info("Zero-initialised the last norm of %d residual blocks.", n)
    return model
