"""BatchNorm folded into the preceding convolution for inference (SCRATCHDET.TEST.FUSE_CONV_BN).

In eval mode a BatchNorm is a per-channel affine map, ``y = (x - mean) / sqrt(var + eps) * gamma
+ beta``, so a convolution followed by it is one convolution with rescaled weights and a new bias:
one pass over the feature map instead of two, the same outputs up to float rounding.

Only detectron2's ``Conv2d`` whose ``norm`` is a BatchNorm is fused: the pattern of every
detectron2 and scratchdet backbone, FPN and head built with ``get_norm`` (ResNet, Root-ResNet,
FPN, the box and mask heads, the SSD head and extra layers). There the norm is part of the conv
module and runs before its activation, so the fused conv computes what the pair computed. A
BatchNorm that is a separate module (``nn.Sequential(nn.Conv2d, nn.BatchNorm2d)`` as in DEYO's
input projection, RetinaNet's per-level ``CycleBatchNormList``) is left as it is: whether its
input comes only from the conv before it is not known from the module alone.
"""

from __future__ import annotations

import copy
import logging

import torch
from detectron2.layers import Conv2d, FrozenBatchNorm2d
from torch import nn
from torch.nn.parallel import DistributedDataParallel

__all__ = ["fuse_conv_bn"]

logger = logging.getLogger(__name__)


def _bn_affine(norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(scale, shift) of ``norm`` in eval mode, ``y = x * scale + shift`` per channel; None when
    ``norm`` is not a BatchNorm that uses running statistics at eval."""
    if isinstance(norm, FrozenBatchNorm2d):
        weight, bias = norm.weight, norm.bias
    elif isinstance(norm, (nn.BatchNorm2d, nn.SyncBatchNorm)):  # NaiveSyncBatchNorm is a BatchNorm2d
        if norm.running_mean is None or norm.running_var is None:
            return None  # track_running_stats=False: batch statistics even at eval, not a fixed map
        weight, bias = norm.weight, norm.bias  # None when affine=False
    else:
        return None
    # float32 at least: a half-precision model should not lose the folding's precision.
    dtype = torch.promote_types(norm.running_var.dtype, torch.float32)
    var, mean = norm.running_var.to(dtype), norm.running_mean.to(dtype)
    scale = torch.rsqrt(var + norm.eps)
    if weight is not None:
        scale = scale * weight.to(dtype)
    shift = -mean * scale
    if bias is not None:
        shift = shift + bias.to(dtype)
    return scale, shift


@torch.no_grad()
def _fuse_one(conv: Conv2d) -> bool:
    affine = _bn_affine(conv.norm)
    if affine is None:
        return False
    scale, shift = affine
    w = conv.weight
    # In place on the copy: keeps the weight's dtype, device and memory format (channels-last).
    w.copy_(w.to(scale.dtype) * scale.reshape(-1, 1, 1, 1))
    b = conv.bias.to(scale.dtype) if conv.bias is not None else torch.zeros_like(scale)
    fused_bias = (b * scale + shift).to(dtype=w.dtype, device=w.device)
    if conv.bias is not None:
        conv.bias.copy_(fused_bias)
    else:
        conv.bias = nn.Parameter(fused_bias, requires_grad=False)
    conv.norm = None  # detectron2's Conv2d.forward skips a None norm and still applies its activation
    return True


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode, for inference only, whose detectron2 ``Conv2d`` layers
    with a BatchNorm norm (torch's BatchNorm2d and SyncBatchNorm, detectron2's NaiveSyncBatchNorm
    and FrozenBatchNorm2d) have it folded into their weights and bias (``norm`` None). Other norms
    (GN, LN, none) are untouched. ``model`` itself is not changed; a DistributedDataParallel is
    unwrapped (each process evaluates its own copy, no gradients to synchronise)."""
    if isinstance(model, DistributedDataParallel):
        model = model.module
    fused = copy.deepcopy(model).eval()
    fused.requires_grad_(False)  # an inference copy: no autograd bookkeeping if used outside no_grad
    convs = [m for m in fused.modules() if isinstance(m, Conv2d) and m.norm is not None]
    n = sum(_fuse_one(m) for m in convs)
    logger.info(f"Fused BatchNorm into {n} of {len(convs)} convolutions with a norm for inference.")
    return fused
