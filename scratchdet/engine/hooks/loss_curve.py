"""OUTPUT_DIR/loss_curve.png, drawn from metrics.json during and after training."""

from __future__ import annotations

import os

from detectron2.config import CfgNode
from detectron2.engine import HookBase
from detectron2.utils import comm

from .metrics_log import plot_loss_curves


class LossCurveHook(HookBase):
    """Redraw ``OUTPUT_DIR/loss_curve.png`` every SCRATCHDET.VIS.LOSS_CURVE_PERIOD iterations and
    after training (main process only). Always added by the Trainer, so not in HOOK_REGISTRY."""

    def __init__(self, cfg: CfgNode):
        self._period = cfg.SCRATCHDET.VIS.LOSS_CURVE_PERIOD
        self._metrics = os.path.join(cfg.OUTPUT_DIR, "metrics.json")
        self._out = os.path.join(cfg.OUTPUT_DIR, "loss_curve.png")

    def _draw(self) -> None:
        if comm.is_main_process() and os.path.isfile(self._metrics):
            plot_loss_curves(self._metrics, self._out)

    def after_step(self) -> None:
        if self._period > 0 and (self.trainer.iter + 1) % self._period == 0:
            self._draw()

    def after_train(self) -> None:
        # After the writers flushed (this hook is registered after them).
        self._draw()
