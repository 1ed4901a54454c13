"""Model EMA: an exponential moving average of the weights and BN statistics, updated after every
step (SCRATCHDET.EMA). Built on torch's ``AveragedModel`` with ``get_ema_multi_avg_fn``; the
decay warms up as in YOLOX / Ultralytics. The average is what the Trainer evaluates and what
checkpoints store as their "model"; the checkpointer keeps the trained weights beside it."""

from __future__ import annotations

import math

import torch
from detectron2.config import CfgNode
from detectron2.engine import HookBase
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class ModelEMA:
    """The average of ``model`` (an unwrapped module). ``module`` is the averaged copy;
    ``state_dict()`` / ``load_state_dict()`` hold the number of updates (a checkpointable), the
    averaged weights travel as the checkpoint's "model" (see ScratchCheckpointer.averaged_model)."""

    def __init__(self, model: torch.nn.Module, decay: float, warmup_iters: float):
        self.decay = decay
        self.warmup_iters = warmup_iters
        # use_buffers: BN running statistics are averaged with the weights (as Ultralytics does),
        # so the averaged weights are evaluated with statistics that fit them.
        self._averaged = AveragedModel(model, use_buffers=True, multi_avg_fn=self._average)
        self._averaged.eval()
        self._current_decay = 0.0

    @property
    def module(self) -> torch.nn.Module:
        return self._averaged.module

    @property
    def updates(self) -> int:
        return int(self._averaged.n_averaged)

    def decay_at(self, updates: int) -> float:
        """The decay of the ``updates``-th update: DECAY * (1 - exp(-updates / WARMUP_ITERS))."""
        if self.warmup_iters <= 0:
            return self.decay
        return self.decay * (1 - math.exp(-updates / self.warmup_iters))

    def _average(self, averaged: list[torch.Tensor], current: list[torch.Tensor], _n) -> None:
        # Integer buffers (BN's num_batches_tracked) are counters, not weights: copied.
        if torch.is_floating_point(averaged[0]):
            get_ema_multi_avg_fn(self._current_decay)(averaged, current, _n)
        else:
            torch._foreach_copy_(averaged, current)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> float:
        """Average ``model`` in (its first update copies it); returns the decay used."""
        self._current_decay = self.decay_at(self.updates)
        self._averaged.update_parameters(model)
        return self._current_decay

    def state_dict(self) -> dict:
        return {"updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self._averaged.n_averaged.fill_(int(state["updates"]))


def build_model_ema(cfg: CfgNode, model: torch.nn.Module) -> ModelEMA | None:
    """The EMA of ``model`` (unwrapped) when SCRATCHDET.EMA.ENABLED, else None."""
    ema = cfg.SCRATCHDET.EMA
    if not ema.ENABLED:
        return None
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    return ModelEMA(model, ema.DECAY, ema.WARMUP_ITERS)


class ModelEMAHook(HookBase):
    """Updates the EMA after each step: placed before the checkpointer and the evaluation, so
    that a checkpoint or an evaluation at step k holds the average including step k."""

    def __init__(self, ema: ModelEMA):
        self.ema = ema

    def after_step(self) -> None:
        model = self.trainer.model
        decay = self.ema.update(getattr(model, "module", model))
        self.trainer.storage.put_scalar("ema_decay", decay, smoothing_hint=False)
