"""Optimizer parameter groups for ViTDet-style training: layer-wise LR decay and no weight decay
on norms and position terms (``SCRATCHDET.SOLVER.*``), with SGD or AdamW.

detectron2's ``get_default_optimizer_params`` recognises torch's norms only, so the
channels-first ``detectron2.layers.LayerNorm`` that ``get_norm("LN")`` builds (ViTDet's pyramid
and conv heads) keeps its weight decay even with ``SOLVER.WEIGHT_DECAY_NORM 0``; here it counts
as a norm.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from detectron2.config import CfgNode
from detectron2.layers.batch_norm import LayerNorm as ChannelsFirstLayerNorm
from detectron2.modeling.backbone.vit import ViT, get_vit_lr_decay_rate
from detectron2.solver.build import maybe_add_gradient_clipping, reduce_param_groups
from torch import nn

from ..checkpoint.position_resize import POSITION_TERMS
from ..config.errors import ConfigError
from .full_model_clipping import FULL_MODEL, with_full_model_clipping

__all__ = ["NORM_TYPES", "OPTIMIZERS", "build_optimizer", "uses_param_groups", "vit_param_groups"]

NORM_TYPES = (
    nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm,
    nn.modules.instancenorm._InstanceNorm, ChannelsFirstLayerNorm,
)
OPTIMIZERS = ("SGD", "AdamW")


def _num_vit_blocks(model: nn.Module) -> int:
    vits = [m for m in model.modules() if isinstance(m, ViT)]
    if not vits:
        raise ConfigError("SCRATCHDET.SOLVER.LAYER_DECAY != 1 needs a ViT backbone (e.g. MODEL.BACKBONE.NAME "
                          "build_vit_sfp_backbone): set SCRATCHDET.SOLVER.LAYER_DECAY 1.0.")
    return len(vits[0].blocks)


def vit_param_groups(model: nn.Module, base_lr: float, weight_decay: float, *, layer_decay: float = 1.0,
                     no_wd_pos_and_norm: bool = True, weight_decay_norm: float | None = None,
                     bias_lr_factor: float = 1.0, weight_decay_bias: float | None = None) -> list[dict[str, Any]]:
    """Parameter groups (merged by hyper-parameters) of the trainable parameters of ``model``.

    Args:
        layer_decay: ViT block i (of N) gets ``base_lr * layer_decay ** (N - i)``, the patch and
            position embeddings ``layer_decay ** (N + 1)`` (detectron2's ``get_vit_lr_decay_rate``
            on names ``backbone.*``); everything else ``base_lr``. 1.0 is off.
        no_wd_pos_and_norm: weight decay 0 on norm parameters (:data:`NORM_TYPES`) and on
            ``pos_embed`` / ``rel_pos_h`` / ``rel_pos_w``.
        weight_decay_norm, bias_lr_factor, weight_decay_bias: detectron2's SOLVER keys.
    """
    if not 0.0 < layer_decay <= 1.0:
        raise ConfigError(f"SCRATCHDET.SOLVER.LAYER_DECAY={layer_decay}: use a value in (0, 1] (1.0 is off; ViTDet: 0.7-0.9).")
    lr_factor = None
    if layer_decay != 1.0:
        lr_factor = partial(get_vit_lr_decay_rate, lr_decay_rate=layer_decay, num_layers=_num_vit_blocks(model))
    if no_wd_pos_and_norm:
        weight_decay_norm = 0.0
    params, seen = [], set()
    for module_name, module in model.named_modules():
        for name, value in module.named_parameters(recurse=False):
            if not value.requires_grad or value in seen:
                continue
            seen.add(value)
            group = {"params": [value], "lr": base_lr, "weight_decay": weight_decay}
            if isinstance(module, NORM_TYPES) and weight_decay_norm is not None:
                group["weight_decay"] = weight_decay_norm
            if name == "bias":
                group["lr"] = base_lr * bias_lr_factor
                if weight_decay_bias is not None:
                    group["weight_decay"] = weight_decay_bias
            if no_wd_pos_and_norm and name in POSITION_TERMS:
                group["weight_decay"] = 0.0
            if lr_factor is not None:
                group["lr"] *= lr_factor(f"{module_name}.{name}")
            params.append(group)
    return reduce_param_groups(params)


def uses_param_groups(cfg: CfgNode) -> bool:
    """Whether ``SCRATCHDET.SOLVER`` asks for more than detectron2's default SGD."""
    s = cfg.SCRATCHDET.SOLVER
    full_model_clip = cfg.SOLVER.CLIP_GRADIENTS.ENABLED and cfg.SOLVER.CLIP_GRADIENTS.CLIP_TYPE == FULL_MODEL
    return s.OPTIMIZER != "SGD" or s.LAYER_DECAY != 1.0 or s.NO_WD_POS_AND_NORM or full_model_clip


def build_optimizer(cfg: CfgNode, model: nn.Module) -> torch.optim.Optimizer:
    """SGD (detectron2's arguments) or AdamW over :func:`vit_param_groups` from ``SOLVER.*`` and
    ``SCRATCHDET.SOLVER.*``, with detectron2's gradient clipping (``SOLVER.CLIP_GRADIENTS``), or
    the whole model's gradient norm clipped with its ``CLIP_TYPE "full_model"``."""
    s, solver = cfg.SCRATCHDET.SOLVER, cfg.SOLVER
    if s.OPTIMIZER not in OPTIMIZERS:
        raise ConfigError(f"SCRATCHDET.SOLVER.OPTIMIZER={s.OPTIMIZER!r}: use one of {', '.join(OPTIMIZERS)}.")
    groups = vit_param_groups(
        model, solver.BASE_LR, solver.WEIGHT_DECAY, layer_decay=s.LAYER_DECAY,
        no_wd_pos_and_norm=s.NO_WD_POS_AND_NORM, weight_decay_norm=solver.WEIGHT_DECAY_NORM,
        bias_lr_factor=solver.BIAS_LR_FACTOR, weight_decay_bias=solver.WEIGHT_DECAY_BIAS,
    )
    if s.OPTIMIZER == "AdamW":
        optimizer = torch.optim.AdamW(groups, lr=solver.BASE_LR, betas=tuple(s.BETAS),
                                      weight_decay=solver.WEIGHT_DECAY)
    else:
        optimizer = torch.optim.SGD(groups, lr=solver.BASE_LR, momentum=solver.MOMENTUM, nesterov=solver.NESTEROV,
                                    weight_decay=solver.WEIGHT_DECAY, foreach=True)
    clip = solver.CLIP_GRADIENTS
    if clip.ENABLED and clip.CLIP_TYPE == FULL_MODEL:
        return with_full_model_clipping(optimizer, clip.CLIP_VALUE)
    return maybe_add_gradient_clipping(cfg, optimizer)
