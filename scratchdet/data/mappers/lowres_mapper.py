"""The low-resolution pre-training mapper of direct detection pre-training (Li et al. 2021):
fixed-size square images (448 in the paper) with scale jitter (0.8-1.2), random crop and padding,
and flip; boxes and masks follow the image exactly."""

from __future__ import annotations

from detectron2.config import CfgNode, configurable
from detectron2.data import detection_utils as utils

from ..mapper_registry import MAPPER_REGISTRY
from ..transforms.large_scale_jitter import build_lsj_augmentations
from .dataset_mapper import DatasetMapper


@MAPPER_REGISTRY.register()
class LowResPretrainMapper(DatasetMapper):
    """Training: rescale to fit ``s * SCRATCHDET.LOWRES.IMAGE_SIZE`` (s uniform in
    SCRATCHDET.LOWRES.SCALE_RANGE), random crop and pad to a square of that size, then the flip
    of INPUT.RANDOM_FLIP; boxes are recomputed from masks when masks are cut by the crop.
    Test: detectron2's test resize (the fine-tuning phase evaluates at high resolution)."""

    @configurable
    def __init__(self, is_train: bool, **kwargs):
        super().__init__(is_train, **kwargs)

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict:
        ret = super().from_config(cfg, is_train)
        if is_train:
            lowres = cfg.SCRATCHDET.LOWRES
            augs = build_lsj_augmentations(lowres.IMAGE_SIZE, tuple(lowres.SCALE_RANGE), cfg.SCRATCHDET.AUG.PAD_VALUE)
            if cfg.INPUT.RANDOM_FLIP != "none":
                augs.append(utils.build_augmentation(cfg, True)[-1])  # detectron2's RandomFlip of INPUT.RANDOM_FLIP
            ret["augmentations"] = augs
            # The crop cuts masks: take boxes from the cut masks, as detectron2's LSJ configs do.
            ret["recompute_boxes"] = cfg.MODEL.MASK_ON
        return ret

