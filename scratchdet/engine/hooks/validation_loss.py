"""The training losses on the validation images, logged as ``val_<loss>`` at each evaluation
(SCRATCHDET.VAL_LOSS): over-fitting shows as a validation loss that rises while the training
loss keeps falling."""

from __future__ import annotations

import logging

import torch
from detectron2.config import CfgNode
from detectron2.data import DatasetMapper, build_detection_test_loader
from detectron2.data import detection_utils as utils
from detectron2.engine import HookBase
from detectron2.utils import comm
from torch.nn.modules.batchnorm import _BatchNorm

from ...data.dataset_dicts import load_checked_dataset

logger = logging.getLogger(__name__)


def _loss_mapper(cfg: CfgNode) -> DatasetMapper:
    """detectron2's mapper keeping the annotations (as in training) with the test-time resize only."""
    args = DatasetMapper.from_config(cfg, is_train=True)
    args["augmentations"] = utils.build_augmentation(cfg, is_train=False)
    return DatasetMapper(**args)


@torch.no_grad()
def validation_losses(model: torch.nn.Module, loader) -> dict[str, float]:
    """Mean of each loss the model returns in training mode over ``loader``, with norm layers in
    eval mode (their statistics are used, not updated); the model's modes are restored."""
    modes = {m: m.training for m in model.modules()}
    model.train()
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.eval()
    sums: dict[str, float] = {}
    n = 0
    try:
        for batch in loader:
            losses = model(batch)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            n += 1
    finally:
        for m, training in modes.items():
            m.training = training
    return {k: v / max(n, 1) for k, v in sums.items()}


class ValidationLossHook(HookBase):
    """At every TEST.EVAL_PERIOD and at the end of training, put ``val_<loss>`` and
    ``val_total_loss`` of the trainer's evaluated model (the EMA when enabled) into the storage
    (main process only). Placed before the evaluation, so early stopping may read them."""

    def __init__(self, cfg: CfgNode):
        self._cfg = cfg
        self._period = cfg.TEST.EVAL_PERIOD
        self._loader = None

    def before_train(self) -> None:
        cfg = self._cfg
        if not comm.is_main_process() or not cfg.DATASETS.TEST:
            return
        dicts = load_checked_dataset(cfg, [cfg.DATASETS.TEST[0]], is_train=False, check_images=False)
        dicts = [d for d in dicts if d.get("annotations")]
        if cfg.SCRATCHDET.VAL_LOSS.MAX_IMAGES > 0:
            dicts = dicts[: cfg.SCRATCHDET.VAL_LOSS.MAX_IMAGES]
        if dicts:
            self._loader = build_detection_test_loader(dicts, mapper=_loss_mapper(cfg), num_workers=0, batch_size=4)

    def after_step(self) -> None:
        done = self.trainer.iter + 1
        if self._loader is None or not (self._period > 0 and (done % self._period == 0 or done == self.trainer.max_iter)):
            return
        model = getattr(self.trainer, "eval_model", self.trainer.model)
        losses = validation_losses(getattr(model, "module", model), self._loader)
        total = sum(losses.values())
        self.trainer.storage.put_scalars(**{f"val_{k}": v for k, v in losses.items()}, val_total_loss=total,
                                         smoothing_hint=False)
        logger.info(f"Validation loss at iteration {done}: {total:.4f}")
