"""OUTPUT_DIR/predictions.png: the trained model's predictions on validation images."""

from __future__ import annotations

import logging
import os

from detectron2.config import CfgNode
from detectron2.engine import HookBase
from detectron2.utils import comm

from ...evaluation.prediction_grid import draw_prediction_grid


class PredictionPNGHook(HookBase):
    """After training, draw SCRATCHDET.VIS.NUM_IMAGES images of the first test dataset with
    the model's predictions (main process only). Always added by the Trainer (0 images: off), so
    not in HOOK_REGISTRY, whose hooks are those a config adds by name."""

    def __init__(self, cfg: CfgNode):
        self._cfg = cfg

    def after_train(self) -> None:
        cfg = self._cfg
        if not comm.is_main_process() or cfg.SCRATCHDET.VIS.NUM_IMAGES <= 0 or not cfg.DATASETS.TEST:
            return
        # Only a finished training is drawn (not one stopped by an exception).
        if self.trainer.iter + 1 < self.trainer.max_iter:
            return
        model = getattr(self.trainer, "eval_model", self.trainer.model)  # the EMA when enabled
        model = getattr(model, "module", model)  # unwrap DistributedDataParallel
        out = draw_prediction_grid(cfg, model, cfg.DATASETS.TEST[0], os.path.join(cfg.OUTPUT_DIR, "predictions.png"),
                                   cfg.SCRATCHDET.VIS.NUM_IMAGES, cfg.SCRATCHDET.VIS.SCORE_THRESH)
        logging.getLogger(__name__).info(f"Predictions drawn in {out}")
