"""The one place that decides the norms of a detector, and the from-scratch initialisation.

- :func:`apply_norm_policy` (config, before the model is built): ``SCRATCHDET.NORM.ALL`` sets
  the norm of every part (backbone, FPN, box head, mask head, RetinaNet head, ...) at once;
  unset, detectron2's per-part keys (``MODEL.RESNETS.NORM``, ``MODEL.FPN.NORM``, ...) decide.
- :func:`init_for_scratch` (model, after it is built): MSRA fill of convs and zero-init of the
  last norm of each residual block (``SCRATCHDET.INIT.*``).
- :func:`convert_norm` (model): turns a trained model's BatchNorms into FrozenBN, SyncBN or
  naive SyncBN (or back to BN), keeping their statistics, e.g. for fine-tuning.

No weight decay on norm parameters is detectron2's ``SOLVER.WEIGHT_DECAY_NORM 0.0``.
"""

from __future__ import annotations

import logging

import torch
from detectron2.config import CfgNode
from detectron2.layers import FrozenBatchNorm2d, NaiveSyncBatchNorm
from detectron2.modeling.backbone.resnet import (
    BasicBlock,
    BottleneckBlock,
    DeformBottleneckBlock,
)
from fvcore.nn import weight_init
from torch import nn

from scratchdet.config.checks import EMPTY_BATCH_HEADS, ConfigError
from scratchdet.config.keys import get_key, has_key

__all__ = [
    "NORMS",
    "NORM_KEYS",
    "apply_norm_policy",
    "convert_norm",
    "init_for_scratch",
    "msra_fill_convs",
    "norm_policy_errors",
    "register_norm_key",
    "register_residual_block",
    "zero_init_residual",
]

logger = logging.getLogger(__name__)

# Values of detectron2's get_norm ("" is no norm).
NORMS = ("BN", "SyncBN", "nnSyncBN", "naiveSyncBN", "naiveSyncBN_N", "GN", "FrozenBN", "LN", "")
SYNC_BN = ("SyncBN", "nnSyncBN")
# Config keys set by SCRATCHDET.NORM.ALL -> whether that part can see an empty batch on one
# process (torch's SyncBatchNorm rejects it, so those parts get naiveSyncBN_N instead).
# Keys absent from a config are skipped, so a module may register a key it adds later.
NORM_KEYS: dict[str, bool] = {
    "MODEL.RESNETS.NORM": False,
    "MODEL.FPN.NORM": False,
    "MODEL.ROI_BOX_HEAD.NORM": True,
    "MODEL.ROI_MASK_HEAD.NORM": True,
    "MODEL.ROI_KEYPOINT_HEAD.NORM": True,
    "MODEL.RETINANET.NORM": False,
    "MODEL.SEM_SEG_HEAD.NORM": False,
}
NORM_KEYS.update({k: True for k in EMPTY_BATCH_HEADS})

# Residual block class -> attribute of the conv whose norm ends the residual branch.
_LAST_CONV: dict[type, str] = {BasicBlock: "conv2", BottleneckBlock: "conv3", DeformBottleneckBlock: "conv3"}
# Leaf names of prediction layers, which keep their own init (e.g. RetinaNet's prior-prob bias).
PREDICTOR_NAMES = ("cls_score", "bbox_pred", "predictor", "objectness_logits", "anchor_deltas")
CONV_FILLS = ("", "msra")


def register_norm_key(key: str, empty_batch: bool = False) -> None:
    """Make ``SCRATCHDET.NORM.ALL`` set ``key`` too (e.g. a new head's ``MODEL.X.NORM``).

    Args:
        empty_batch: the part can see an empty batch (per-instance heads).
    """
    NORM_KEYS[key] = empty_batch


def register_residual_block(cls: type, last_conv: str) -> None:
    """Make :func:`zero_init_residual` handle blocks of ``cls``, whose branch ends with the
    detectron2 ``Conv2d`` (with a ``norm``) at attribute ``last_conv``."""
    _LAST_CONV[cls] = last_conv


def norm_policy_errors(cfg: CfgNode) -> list[str]:
    """Messages for invalid SCRATCHDET.NORM / SCRATCHDET.INIT values."""
    errors = []
    norm = cfg.SCRATCHDET.NORM.ALL
    if norm is not None and norm not in NORMS:
        errors.append(
            f"SCRATCHDET.NORM.ALL={norm!r}: use one of {', '.join(repr(n) for n in NORMS)} ('' for no norm), "
            f"or None to keep the per-part keys (MODEL.RESNETS.NORM, MODEL.FPN.NORM, ...)."
        )
    fill = cfg.SCRATCHDET.INIT.CONV_FILL
    if fill not in CONV_FILLS:
        errors.append(f"SCRATCHDET.INIT.CONV_FILL={fill!r}: use 'msra', or '' to keep each layer's own init.")
    return errors


def apply_norm_policy(cfg: CfgNode) -> CfgNode:
    """A copy of ``cfg`` whose per-part norm keys are set from ``SCRATCHDET.NORM.ALL``.

    Unset (None), the copy is unchanged. Otherwise every key of :data:`NORM_KEYS` present in
    the config gets ALL, except that parts which can see an empty batch get ``naiveSyncBN_N``
    where ALL is SyncBN (torch's SyncBatchNorm rejects empty input). Applying it twice gives the
    same config. Call it after merging files and opts, before building the model.
    """
    errors = norm_policy_errors(cfg)
    if errors:
        raise ConfigError("Invalid config:\n  - " + "\n  - ".join(errors))
    out = cfg.clone()
    norm = cfg.SCRATCHDET.NORM.ALL
    if norm is None:
        return out
    frozen = out.is_frozen()
    out.defrost()
    changed = []
    for key, empty_batch in NORM_KEYS.items():
        if not has_key(out, key):
            continue
        value = "naiveSyncBN_N" if empty_batch and norm in SYNC_BN else norm
        *parents, leaf = key.split(".")
        node = get_key(out, ".".join(parents))
        if node[leaf] != value:
            changed.append(f"{key}: {node[leaf]!r} -> {value!r}")
            node[leaf] = value
    if changed:
        logger.info("SCRATCHDET.NORM.ALL=%r sets %s", norm, "; ".join(changed))
    if frozen:
        out.freeze()
    return out


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
    """Apply ``SCRATCHDET.INIT.*`` to a freshly built model (before any weights are loaded)."""
    errors = norm_policy_errors(cfg)
    if errors:
        raise ConfigError("Invalid config:\n  - " + "\n  - ".join(errors))
    init = cfg.SCRATCHDET.INIT
    if init.CONV_FILL == "msra":
        n = msra_fill_convs(model, list(init.MODULES))
        logger.info("MSRA-filled %d convs under %s.", n, list(init.MODULES))
    if init.ZERO_INIT_RESIDUAL:
        n = zero_init_residual(model)
        logger.info("Zero-initialised the last norm of %d residual blocks.", n)
    return model


# Target -> constructor(num_features, eps, momentum, affine) of the trainable norms.
_BN_TARGETS = {
    "BN": lambda c, **kw: nn.BatchNorm2d(c, **kw),
    "SyncBN": lambda c, **kw: nn.SyncBatchNorm(c, **kw),
    "nnSyncBN": lambda c, **kw: nn.SyncBatchNorm(c, **kw),
    "naiveSyncBN": lambda c, **kw: NaiveSyncBatchNorm(c, **kw),
    "naiveSyncBN_N": lambda c, **kw: NaiveSyncBatchNorm(c, stats_mode="N", **kw),
}
_SOURCES = (nn.BatchNorm2d, nn.SyncBatchNorm, FrozenBatchNorm2d)


def _is_target(module: nn.Module, target: str) -> bool:
    if target == "naiveSyncBN_N":
        return isinstance(module, NaiveSyncBatchNorm) and module._stats_mode == "N"
    if target == "naiveSyncBN":
        return isinstance(module, NaiveSyncBatchNorm) and module._stats_mode == ""
    if target == "BN":
        return type(module) is nn.BatchNorm2d
    return type(module) is nn.SyncBatchNorm


def _convert_bn(module: nn.Module, target: str, training: bool) -> nn.Module:
    """A ``target`` norm with the parameters and statistics of the BN-like ``module``, in
    train or eval mode as ``training`` says."""
    frozen = isinstance(module, FrozenBatchNorm2d)
    affine = frozen or module.affine
    new = _BN_TARGETS[target](
        module.num_features, eps=module.eps, momentum=0.1 if frozen else module.momentum, affine=affine
    )
    ref = module.running_mean
    new.to(device=ref.device, dtype=ref.dtype)
    with torch.no_grad():
        if affine:
            new.weight.copy_(module.weight)
            new.bias.copy_(module.bias)
            # FrozenBN's scale/shift are buffers: converted back, they train again.
            if not frozen:
                new.weight.requires_grad_(module.weight.requires_grad)
                new.bias.requires_grad_(module.bias.requires_grad)
        new.running_mean.copy_(module.running_mean)
        new.running_var.copy_(module.running_var)
        if getattr(module, "num_batches_tracked", None) is not None:
            new.num_batches_tracked.copy_(module.num_batches_tracked)
    return new.train(training)


def convert_norm(model: nn.Module, target: str) -> nn.Module:
    """Convert every BatchNorm2d / SyncBatchNorm / NaiveSyncBatchNorm / FrozenBatchNorm2d of
    ``model`` to ``target`` ("FrozenBN", "BN", "SyncBN", "nnSyncBN", "naiveSyncBN",
    "naiveSyncBN_N"), keeping scale, shift, running statistics and eps. GN and LN are left as
    they are. Converts in place and returns the model (a new module if ``model`` itself is a BN).
    """
    if target == "FrozenBN":
        return FrozenBatchNorm2d.convert_frozen_batchnorm(model)
    if target not in _BN_TARGETS:
        raise ConfigError(f"convert_norm: unknown target {target!r}; use FrozenBN or one of {', '.join(_BN_TARGETS)}.")
    if isinstance(model, _SOURCES):
        return model if _is_target(model, target) else _convert_bn(model, target, model.training)
    for name, child in model.named_children():
        if isinstance(child, FrozenBatchNorm2d):
            # FrozenBN's own mode means nothing (it is often left in train mode): use its parent's.
            new = child if _is_target(child, target) else _convert_bn(child, target, model.training)
        else:
            new = convert_norm(child, target)
        if new is not child:
            model.add_module(name, new)
    return model
