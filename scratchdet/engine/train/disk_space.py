"""Will the checkpoints fit? A warning before training when OUTPUT_DIR's disk is too small for
the checkpoints this run will write, rather than a full disk hours later."""

from __future__ import annotations

import logging
import os
import shutil

import torch
from detectron2.config import CfgNode

logger = logging.getLogger(__name__)


def checkpoint_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """About the size of one checkpoint: the model's state, plus the optimizer's per-parameter
    state (momentum buffers for SGD, two moments for Adam/AdamW), which exists only after the first
    step and so is counted from the parameters."""
    model_bytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    per_param = 2 if isinstance(optimizer, (torch.optim.Adam, torch.optim.AdamW)) else 0
    opt_bytes = 0
    for group in optimizer.param_groups:
        states = per_param or (1 if group.get("momentum", 0) else 0)
        opt_bytes += states * sum(p.numel() * p.element_size() for p in group["params"])
    return model_bytes + opt_bytes


def checkpoints_to_write(start_iter: int, max_iter: int, period: int, max_to_keep: int, best: bool) -> int:
    """How many checkpoint files this run leaves: the periodic ones (at most ``max_to_keep`` when
    set), model_final.pth, and model_best.pth with validation during training."""
    periodic = max(0, max_iter // period - start_iter // period)  # iterations i with (i + 1) % period == 0
    if max_to_keep > 0:
        periodic = min(periodic, max_to_keep)
    return periodic + 1 + int(best)


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def warn_if_checkpoints_do_not_fit(cfg: CfgNode, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                                   start_iter: int) -> bool:
    """Log a warning naming OUTPUT_DIR, the sizes and the keys to change when the checkpoints of
    this run need more than the free space; returns whether it warned."""
    best = bool(cfg.SCRATCHDET.BEST_CHECKPOINT.METRIC) and cfg.TEST.EVAL_PERIOD > 0
    n = checkpoints_to_write(start_iter, cfg.SOLVER.MAX_ITER, cfg.SOLVER.CHECKPOINT_PERIOD,
                             cfg.SCRATCHDET.CHECKPOINT.MAX_TO_KEEP, best)
    size = checkpoint_bytes(model, optimizer)
    if cfg.SCRATCHDET.EMA.ENABLED:  # the average and the trained weights are both stored
        size += sum(t.numel() * t.element_size() for t in model.state_dict().values())
    folder = os.path.abspath(cfg.OUTPUT_DIR)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)  # not made yet (a phase's folder): its disk is its parent's
    free = shutil.disk_usage(folder).free
    if n * size <= free:
        return False
    logger.warning(
        f"OUTPUT_DIR {cfg.OUTPUT_DIR} has {_gb(free)} free, but this run writes {n} checkpoints of about "
        f"{_gb(size)} ({_gb(n * size)}): set SCRATCHDET.CHECKPOINT.MAX_TO_KEEP (e.g. 3), raise "
        "SOLVER.CHECKPOINT_PERIOD, or free space, else saving will stop the training when the disk is full.")
    return True
