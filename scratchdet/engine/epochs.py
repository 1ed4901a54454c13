"""A schedule in epochs (SOLVER.MAX_EPOCHS, SOLVER.STEPS_EPOCHS), converted once, when a phase's
training starts, into detectron2's iterations from the training set's size and the batch."""

from __future__ import annotations

import logging
import math

from detectron2.config import CfgNode

from ..config.checks import epoch_errors, raise_config_errors
from ..config.keys import get_key
from ..data.dataset_dicts import load_checked_dataset

logger = logging.getLogger(__name__)


def epochs_to_iterations(cfg: CfgNode) -> CfgNode:
    """``cfg`` with SOLVER.MAX_ITER / STEPS computed from SOLVER.MAX_EPOCHS / STEPS_EPOCHS (when
    MAX_EPOCHS > 0; the conversion is logged), else ``cfg`` itself."""
    if not cfg.SOLVER.MAX_EPOCHS:
        return cfg
    raise_config_errors(epoch_errors(lambda k: get_key(cfg, k)))
    images = len(load_checked_dataset(cfg, cfg.DATASETS.TRAIN, is_train=True, check_images=False))
    per_epoch = max(1, math.ceil(images / cfg.SOLVER.IMS_PER_BATCH))
    out = cfg.clone()
    out.defrost()
    out.SOLVER.MAX_ITER = int(round(cfg.SOLVER.MAX_EPOCHS * per_epoch))
    out.SOLVER.STEPS = tuple(int(round(e * per_epoch)) for e in cfg.SOLVER.STEPS_EPOCHS) or tuple(cfg.SOLVER.STEPS)
    out.SOLVER.STEPS = tuple(s for s in out.SOLVER.STEPS if s < out.SOLVER.MAX_ITER)
    out.freeze()
    logger.info(f"Schedule in epochs: {images} training images / {cfg.SOLVER.IMS_PER_BATCH} per batch = {per_epoch} "
                f"iterations per epoch; SOLVER.MAX_EPOCHS {cfg.SOLVER.MAX_EPOCHS} -> MAX_ITER {out.SOLVER.MAX_ITER}, "
                f"STEPS_EPOCHS {tuple(cfg.SOLVER.STEPS_EPOCHS)} -> STEPS {out.SOLVER.STEPS}.")
    return out
