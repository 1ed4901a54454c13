"""ERFRefresh: re-measures the jigsaw model's effective receptive field every
SCRATCHDET.JIGSAW.ERF_PERIOD iterations (the ERF grows while training, and measuring it costs one
backward pass per output position, so not every step)."""

from __future__ import annotations

import logging

from detectron2.config import CfgNode
from detectron2.engine import HookBase
from torch.nn.parallel import DistributedDataParallel

from ...config.errors import ConfigError
from .registry import HOOK_REGISTRY

logger = logging.getLogger(__name__)


@HOOK_REGISTRY.register()
class ERFRefresh(HookBase):
    """Calls ``model.refresh_erf()`` after every ``period``-th step (not after the last) and logs
    the mean ERF radius as ``erf_radius`` (pixels). Every process calls it at the same step, as
    the measurement is averaged over processes."""

    def __init__(self, cfg: CfgNode):
        self.period = cfg.SCRATCHDET.JIGSAW.ERF_PERIOD
        if self.period <= 0:
            raise ConfigError(f"SCRATCHDET.JIGSAW.ERF_PERIOD={self.period}: use a positive number of iterations, "
                              "or remove 'ERFRefresh' from SCRATCHDET.HOOKS.")

    def _model(self):
        model = self.trainer.model
        model = model.module if isinstance(model, DistributedDataParallel) else model
        if not hasattr(model, "refresh_erf"):
            raise ConfigError(f"SCRATCHDET.HOOKS has 'ERFRefresh' but {type(model).__name__} has no ERF to "
                              "refresh: use it with MODEL.META_ARCHITECTURE 'JigsawPretrainer'.")
        return model

    def before_train(self):
        self._model()  # fail before the first step, not after `period` of them

    def after_step(self):
        it = self.trainer.iter + 1
        if it % self.period == 0 and it < self.trainer.max_iter:
            radius = self._model().refresh_erf()
            self.trainer.storage.put_scalar("erf_radius", radius, smoothing_hint=False)
