"""detectron2's FCOS (Tian et al. 2019), which ships as a LazyConfig-style class, made buildable
from a yacs config: ``MODEL.META_ARCHITECTURE: "FCOS"``.

An anchor-free, one-to-many dense detector (every position inside a box's centre region is a
positive), DEYO's kind of stage 1. It reads RetinaNet's keys, as detectron2's FCOS head is a
RetinaNet head with a centerness branch: ``MODEL.RETINANET.{NUM_CLASSES, IN_FEATURES, NUM_CONVS,
NORM, PRIOR_PROB, FOCAL_LOSS_ALPHA, FOCAL_LOSS_GAMMA, SCORE_THRESH_TEST, TOPK_CANDIDATES_TEST,
NMS_THRESH_TEST}``; anchors are FCOS's own (one point per position), MODEL.ANCHOR_GENERATOR is unused.
"""

from __future__ import annotations

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone
from detectron2.modeling.meta_arch.fcos import FCOS as _FCOS
from detectron2.modeling.meta_arch.fcos import FCOSHead

from ...config.feature_checks import FeatureUse
from ..needs import ConfigNeeds

__all__ = ["FCOS"]


@META_ARCH_REGISTRY.register()
class FCOS(_FCOS):
    """detectron2's FCOS with a ``from_config`` (the model itself is unchanged)."""

    # RetinaNet's keys; no anchor check: MODEL.ANCHOR_GENERATOR is unused.
    config_needs = ConfigNeeds((FeatureUse("MODEL.RETINANET.IN_FEATURES"),), "MODEL.RETINANET.NUM_CLASSES")

    @configurable
    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    @classmethod
    def from_config(cls, cfg) -> dict:
        r = cfg.MODEL.RETINANET
        backbone = build_backbone(cfg)
        shapes = [backbone.output_shape()[f] for f in r.IN_FEATURES]
        head = FCOSHead(input_shape=shapes, conv_dims=[shapes[0].channels] * r.NUM_CONVS, num_classes=r.NUM_CLASSES,
                        norm=r.NORM, prior_prob=r.PRIOR_PROB)
        return {
            "backbone": backbone,
            "head": head,
            "head_in_features": r.IN_FEATURES,
            "num_classes": r.NUM_CLASSES,
            "focal_loss_alpha": r.FOCAL_LOSS_ALPHA,
            "focal_loss_gamma": r.FOCAL_LOSS_GAMMA,
            "test_score_thresh": r.SCORE_THRESH_TEST,
            "test_topk_candidates": r.TOPK_CANDIDATES_TEST,
            "test_nms_thresh": r.NMS_THRESH_TEST,
            "max_detections_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
        }
