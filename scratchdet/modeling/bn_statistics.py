"""Re-estimating BatchNorm statistics on new data ("precise BN"), for trainable BN and for
detectron2's FrozenBatchNorm2d alike: after a hand-over, statistics gathered at phase 1's
resolution are replaced by ones measured on phase-2 images before the layers are frozen."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch
from detectron2.layers import FrozenBatchNorm2d
from detectron2.utils.events import EventStorage
from torch import nn

logger = logging.getLogger(__name__)
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, FrozenBatchNorm2d)


def bn_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, _BN) and getattr(m, "running_mean", None) is not None]


@torch.no_grad()
def recompute_bn_stats(model: nn.Module, batches: Iterable, num_iters: int) -> int:
    """Run ``model`` (in training mode, without gradients) on ``num_iters`` batches and set every
    BN layer's running mean and variance to the average of its batch statistics. Each layer
    normalises with its batch statistics while measuring (as BatchNorm does in training), so that
    later layers see the distribution they will see with the new statistics. Returns the number
    of layers updated; the model's other state and its training flag are restored.

    Layers that stay in eval mode when the model is put in training mode are frozen by the model
    itself (e.g. DEYO's stage-1 backbone, neck and box branch): their statistics are left as they
    are, bit for bit, and they normalise with them while the others are measured."""
    was_training = model.training
    model.train()
    layers = [m for m in bn_modules(model) if m.training]
    skipped = len(bn_modules(model)) - len(layers)
    if skipped:
        logger.info(f"Precise BN: {skipped} BatchNorm layers stay in eval mode (frozen by the model): not re-estimated.")
    if not layers or num_iters <= 0:
        model.train(was_training)
        return 0
    sums = {m: [torch.zeros_like(m.running_mean), torch.zeros_like(m.running_var), 0] for m in layers}

    def hook(module, inputs, output):
        x = inputs[0]
        dims = [0] + list(range(2, x.dim()))
        if x.numel() == 0 or x.shape[0] * (x[0, 0].numel()) < 2:
            return output
        mean, var = x.mean(dim=dims), x.var(dim=dims, unbiased=False)
        acc = sums[module]
        acc[0] += mean
        acc[1] += var
        acc[2] += 1
        shape = [1, -1] + [1] * (x.dim() - 2)
        w = module.weight if module.weight is not None else torch.ones_like(mean)
        b = module.bias if module.bias is not None else torch.zeros_like(mean)
        return (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + module.eps) * w.view(shape) + b.view(shape)

    handles = [m.register_forward_hook(hook) for m in layers]
    n = 0
    try:
        # Detectors log training statistics to an event storage: give them a throw-away one.
        with EventStorage():
            for batch in batches:
                model(batch)
                n += 1
                if n >= num_iters:
                    break
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    updated = 0
    for m, (s_mean, s_var, count) in sums.items():
        if count:
            m.running_mean.copy_(s_mean / count)
            m.running_var.copy_(s_var / count)
            updated += 1
    logger.info(f"Re-estimated the statistics of {updated} BatchNorm layers on {n} batches.")
    return updated


@torch.no_grad()
def average_bn_stats_across_processes(model: nn.Module) -> None:
    """Average running statistics over training processes, so every process freezes the same ones
    (layers the model keeps in eval mode, frozen by it, are left alone)."""
    from detectron2.utils import comm

    world = comm.get_world_size()
    if world == 1:
        return
    import torch.distributed as dist

    was_training = model.training
    model.train()
    layers = [m for m in bn_modules(model) if m.training]
    model.train(was_training)
    for m in layers:
        for buf in (m.running_mean, m.running_var):
            dist.all_reduce(buf)
            buf.div_(world)
