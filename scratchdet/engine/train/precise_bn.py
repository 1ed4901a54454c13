"""The engine step run after weights arrive by MODEL.WEIGHTS (a fine-tuning start or phase 2 of a
two-phase run, not a resume): BatchNorm statistics re-estimated on this training's data
(SCRATCHDET.HANDOVER.PRECISE_BN_ITERS batches), since statistics gathered at another resolution
do not fit it.

It uses fvcore's ``update_bn_stats`` (what detectron2's PreciseBN hook uses), adding what that
lacks: frozen BN (detectron2's FrozenBatchNorm2d, from SCRATCHDET.FREEZE or FREEZE_AT, whose
statistics are buffers fvcore does not see) is re-estimated too, through a trainable twin swapped
in for the measurement, and the statistics are averaged over training processes so that every
process keeps the same ones. Freezing itself happens when the model is built (as detectron2's
FREEZE_AT does), so the frozen statistics kept are the re-estimated ones.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator

import torch
from detectron2.layers import FrozenBatchNorm2d
from detectron2.utils import comm
from detectron2.utils.events import EventStorage
from fvcore.nn.precise_bn import get_bn_modules, update_bn_stats
from torch import nn

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _frozen_bn_as_trainable(model: nn.Module) -> Iterator[list[nn.BatchNorm2d]]:
    """Swap every FrozenBatchNorm2d of ``model`` for a BatchNorm2d twin in training mode (same
    scale, shift, statistics, eps); on exit put the frozen layers back, with the twins'
    statistics. Yields the twins."""
    swaps = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, FrozenBatchNorm2d):
                twin = nn.BatchNorm2d(child.num_features, eps=child.eps).to(child.weight.device)
                with torch.no_grad():
                    twin.weight.copy_(child.weight)
                    twin.bias.copy_(child.bias)
                    twin.running_mean.copy_(child.running_mean)
                    twin.running_var.copy_(child.running_var)
                twin.requires_grad_(False)
                setattr(parent, name, twin)
                swaps.append((parent, name, child, twin))
    try:
        yield [twin for *_, twin in swaps]
    finally:
        with torch.no_grad():
            for parent, name, frozen, twin in swaps:
                frozen.running_mean.copy_(twin.running_mean)
                frozen.running_var.copy_(twin.running_var)
                setattr(parent, name, frozen)


@torch.no_grad()
def reestimate_bn_stats(model: nn.Module, batches: Iterable, num_iters: int) -> int:
    """Set the running statistics of every BN layer of ``model`` (trainable or frozen) to their
    average over ``num_iters`` batches of ``batches`` (the model runs in training mode, without
    gradients). Returns the number of layers updated; the model's training flag is restored and
    its statistics tensors are updated in place."""
    if num_iters <= 0:
        return 0
    was_training = model.training
    with _frozen_bn_as_trainable(model):
        model.train()
        # fvcore measures the layers in training mode. A part the model itself keeps in eval mode
        # (DEYO's frozen stage 1) keeps its statistics bit for bit: they are the ones it was trained with.
        layers = get_bn_modules(model)
        kept = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()) - len(layers)
        if kept:
            logger.info(f"Precise BN: {kept} BatchNorm layers stay in eval mode (frozen by the model): not re-estimated.")
        if not layers:
            model.train(was_training)
            return 0
        # fvcore replaces the statistics tensors; keep the originals (the optimizer, DDP and the
        # checkpointer hold them) and copy the new values in.
        originals = [(m, m.running_mean, m.running_var) for m in layers]
        try:
            with EventStorage():  # detectors log training statistics to an event storage
                update_bn_stats(model, batches, num_iters)
        finally:
            for m, mean, var in originals:
                mean.copy_(m.running_mean)
                var.copy_(m.running_var)
                m.running_mean, m.running_var = mean, var
            model.train(was_training)
        # Only the layers re-estimated here (twins of FrozenBN copy theirs back on exit).
        average_bn_stats_across_processes(layers)
    logger.info(f"Re-estimated the statistics of {len(layers)} BatchNorm layers on {num_iters} batches.")
    return len(layers)


@torch.no_grad()
def average_bn_stats_across_processes(layers: list[nn.Module]) -> None:
    """Average the running statistics of ``layers`` over training processes, so every process
    keeps the same ones."""
    world = comm.get_world_size()
    if world == 1:
        return
    import torch.distributed as dist

    for m in layers:
        for buf in (m.running_mean, m.running_var):
            dist.all_reduce(buf)
            buf.div_(world)
