"""OUTPUT_DIR/model_best.pth: the checkpoint with the best validation metric so far."""

from __future__ import annotations

import json
import os

from detectron2.config import CfgNode
from detectron2.engine import BestCheckpointer
from detectron2.utils import comm

from ...io.atomic import atomic_write_json

BEST_FILE = "model_best"


class BestCheckpointHook(BestCheckpointer):
    """detectron2's BestCheckpointer (evaluated after each TEST.EVAL_PERIOD evaluation), whose best
    value survives ``--resume`` (kept in OUTPUT_DIR/model_best.json), so a resumed run does not
    replace a better model with its first, worse evaluation."""

    def __init__(self, cfg: CfgNode, checkpointer):
        best = cfg.SCRATCHDET.BEST_CHECKPOINT
        super().__init__(cfg.TEST.EVAL_PERIOD, checkpointer, best.METRIC, mode=best.MODE, file_prefix=BEST_FILE)
        self._record = os.path.join(cfg.OUTPUT_DIR, f"{BEST_FILE}.json")

    def before_train(self) -> None:
        # Only a resumed run continues the record: a new training in the same folder starts afresh.
        if self.trainer.start_iter > 0 and os.path.isfile(self._record) and os.path.isfile(self._record[:-5] + ".pth"):
            with open(self._record) as f:
                rec = json.load(f)
            if rec.get("metric") == self._val_metric:
                self.best_metric, self.best_iter = rec["value"], rec["iteration"]

    def _update_best(self, val, iteration):
        updated = super()._update_best(val, iteration)
        if updated and comm.is_main_process():
            atomic_write_json({"metric": self._val_metric, "value": self.best_metric, "iteration": self.best_iter},
                              self._record)
        return updated
