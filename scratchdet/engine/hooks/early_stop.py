"""Early stopping on the validation metric (SCRATCHDET.EARLY_STOP): the run ends cleanly after
PATIENCE evaluations without an improvement of more than MIN_DELTA."""

from __future__ import annotations

import logging
import math

from detectron2.config import CfgNode
from detectron2.engine import HookBase

logger = logging.getLogger(__name__)


class EarlyStopHook(HookBase):
    """After each evaluation (reads SCRATCHDET.BEST_CHECKPOINT.METRIC from the storage at this
    step), counts evaluations without improvement and asks the trainer to stop at PATIENCE."""

    def __init__(self, cfg: CfgNode):
        self._metric = cfg.SCRATCHDET.BEST_CHECKPOINT.METRIC
        self._mode = cfg.SCRATCHDET.BEST_CHECKPOINT.MODE
        self._patience = cfg.SCRATCHDET.EARLY_STOP.PATIENCE
        self._delta = cfg.SCRATCHDET.EARLY_STOP.MIN_DELTA
        self.best = None
        self.bad = 0

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best + self._delta if self._mode == "max" else value < self.best - self._delta

    def after_step(self) -> None:
        latest = self.trainer.storage.latest()
        if self._metric not in latest or latest[self._metric][1] != self.trainer.iter:
            return  # no evaluation at this step
        value = float(latest[self._metric][0])
        if math.isnan(value):
            return
        if self._better(value):
            self.best, self.bad = value, 0
            return
        self.bad += 1
        logger.info(f"Early stopping: {self._metric} {value:.4g}, best {self.best:.4g}; "
                    f"{self.bad} of {self._patience} evaluations without improvement.")
        if self.bad >= self._patience:
            logger.info(f"Early stopping at iteration {self.trainer.iter + 1}: {self._metric} has not improved by "
                        f"more than {self._delta} for {self._patience} evaluations (best {self.best:.4g}).")
            self.trainer.request_stop()
