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
        # BN running statistics are averaged with the weights (as Ultralytics does), so the
        # averaged weights are evaluated with statistics that fit them.
        self._averaged = AveragedModel(model, use_buffers=True)
        self._averaged.eval()

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

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> float:
        """Average ``model`` in (its first update copies it); returns the decay used.

        Entries are paired by name, not by position as ``AveragedModel.update_parameters`` pairs
        them: a model may gain a buffer while it trains (the jigsaw classifier's ERF table, None
        when the copy was made), which would shift every later pair."""
        decay = self.decay_at(self.updates)
        current = model.state_dict(keep_vars=True)
        floats, ints = ([], []), ([], [])
        for name, avg in self.module.state_dict(keep_vars=True).items():
            cur = current.get(name)
            if cur is None or cur.shape != avg.shape:
                continue
            group = floats if torch.is_floating_point(avg) else ints
            group[0].append(avg.detach())
            group[1].append(cur.detach().to(avg.device))
        if floats[0] and self.updates == 0:
            torch._foreach_copy_(floats[0], floats[1])
        elif floats[0]:
            get_ema_multi_avg_fn(decay)(floats[0], floats[1], None)
        if ints[0]:  # integer buffers (BN's num_batches_tracked) are counters, not weights: copied
            torch._foreach_copy_(*ints)
        self._averaged.n_averaged += 1
        return decay

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
