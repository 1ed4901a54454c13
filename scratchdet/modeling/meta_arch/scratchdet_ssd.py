"""ScratchDet (Zhu et al., CVPR 2019): a single-shot (SSD) detector trained from scratch, with
BatchNorm in the backbone, the extra layers **and** the prediction head, on a Root-ResNet.

Levels: the backbone maps ``MODEL.SSD.IN_FEATURES`` (Root-ResNet-34 at 300 px: res4 38x38,
res5 19x19), then one extra residual layer per ``MODEL.SSD.EXTRA_CHANNELS`` entry down to 1x1
(10, 5, 3, 1): six levels at 300 px, seven at 512. Each level has SSD's default boxes
(``MODEL.SSD.SCALES`` / ``ASPECT_RATIOS``) and a class/box prediction conv pair followed by
``MODEL.SSD.HEAD_NORM``. Training: IoU-0.5 matching (every object also gets its best default
box), softmax cross-entropy with 3:1 hard-negative mining, smooth-L1 on SSD-encoded offsets.
Test: per-class top-k and NMS (torchvision's batched_nms), boxes rescaled to the original image.

Inputs are detectron2's batched inputs (``image`` CHW in INPUT.FORMAT, ``instances`` for
training), resized to ``MODEL.SSD.IMAGE_SIZE`` squares by the "SSDMapper"; the model normalises
them and pads them to that size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from detectron2.config import CfgNode, configurable
from detectron2.modeling import (
    META_ARCH_REGISTRY,
    Backbone,
    build_backbone,
    detector_postprocess,
)
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.structures import Boxes, ImageList, Instances
from torch import Tensor, nn
from torchvision.ops import batched_nms

from ...config.checks import GN_GROUPS
from ...config.errors import ConfigError, raise_config_errors
from ...config.feature_checks import FeatureUse
from ..needs import ConfigNeeds
from ..ssd import DefaultBoxGenerator, ExtraLayers, SSDHead, ssd_losses, ssd_targets
from ..ssd.extra_layers import SHORTCUTS

__all__ = ["ScratchDetSSD"]


@META_ARCH_REGISTRY.register()
class ScratchDetSSD(nn.Module):
    """Backbone -> extra layers -> per-level prediction head over SSD default boxes.

    Training returns ``{"loss_cls", "loss_box_reg"}``; inference returns, per image,
    ``{"instances": Instances}`` (pred_boxes, scores, pred_classes) in the original image size
    (the input's "height"/"width").
    """

    # For the set-up checks: IN_FEATURES against the backbone's outputs, NUM_CLASSES against the data.
    config_needs = ConfigNeeds((FeatureUse("MODEL.SSD.IN_FEATURES", top_levels=False),), "MODEL.SSD.NUM_CLASSES")

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        in_features: Sequence[str],
        extra_layers: ExtraLayers,
        default_boxes: DefaultBoxGenerator,
        head: SSDHead,
        num_classes: int,
        image_size: int,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        box2box_transform: Box2BoxTransform,
        iou_threshold: float = 0.5,
        neg_pos_ratio: float = 3.0,
        smooth_l1_beta: float = 1.0,
        score_thresh_test: float = 0.01,
        topk_candidates_test: int = 400,
        nms_thresh_test: float = 0.45,
        max_detections_per_image: int = 200,
    ):
        super().__init__()
        self.backbone = backbone
        self.in_features = list(in_features)
        self.extra_layers = extra_layers
        self.default_boxes = default_boxes
        self.head = head
        self.num_classes = num_classes
        self.image_size = image_size
        self.box2box_transform = box2box_transform
        self.iou_threshold = iou_threshold
        self.neg_pos_ratio = neg_pos_ratio
        self.smooth_l1_beta = smooth_l1_beta
        self.score_thresh_test = score_thresh_test
        self.topk_candidates_test = topk_candidates_test
        self.nms_thresh_test = nms_thresh_test
        self.max_detections_per_image = max_detections_per_image
        # Not persistent, as in detectron2's detectors: they come from the config.
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict:
        s = cfg.MODEL.SSD
        backbone = build_backbone(cfg)
        shapes = backbone.output_shape()
        missing = [f for f in s.IN_FEATURES if f not in shapes]
        if missing or not s.IN_FEATURES:
            raise ConfigError(
                f"MODEL.SSD.IN_FEATURES={list(s.IN_FEATURES)}: {missing or 'empty'} not among the outputs of "
                f"MODEL.BACKBONE.NAME {cfg.MODEL.BACKBONE.NAME} ({sorted(shapes)}): list them in "
                f"MODEL.RESNETS.OUT_FEATURES or pick others."
            )
        num_levels = len(s.IN_FEATURES) + len(s.EXTRA_CHANNELS)
        errors = []
        if len(s.SCALES) != num_levels + 1:
            errors.append(
                f"MODEL.SSD.SCALES has {len(s.SCALES)} values but there are {num_levels} levels "
                f"({len(s.IN_FEATURES)} MODEL.SSD.IN_FEATURES + {len(s.EXTRA_CHANNELS)} MODEL.SSD.EXTRA_CHANNELS): "
                f"give {num_levels + 1} (one per level plus one)."
            )
        if len(s.ASPECT_RATIOS) not in (1, num_levels):
            errors.append(
                f"MODEL.SSD.ASPECT_RATIOS has {len(s.ASPECT_RATIOS)} lists but there are {num_levels} levels: "
                f"give one list per level, or one for all."
            )
        if s.EXTRA_SHORTCUT not in SHORTCUTS:
            errors.append(f"MODEL.SSD.EXTRA_SHORTCUT={s.EXTRA_SHORTCUT!r}: use one of {list(SHORTCUTS)}.")
        if s.NUM_CLASSES < 1:
            errors.append(f"MODEL.SSD.NUM_CLASSES={s.NUM_CLASSES}: set the number of object classes.")
        extra_norm = cfg.MODEL.RESNETS.NORM
        if extra_norm == "GN" and any(c % GN_GROUPS for c in s.EXTRA_CHANNELS):
            errors.append(
                f"MODEL.RESNETS.NORM='GN' (also the extra layers' norm) needs MODEL.SSD.EXTRA_CHANNELS="
                f"{list(s.EXTRA_CHANNELS)} divisible by {GN_GROUPS}."
            )
        if s.HEAD_NORM == "GN":
            errors.append(
                "MODEL.SSD.HEAD_NORM='GN': the prediction convs have (boxes x classes) channels, which GroupNorm's "
                f"{GN_GROUPS} groups rarely divide; use 'BN' (or SyncBN, naiveSyncBN) or ''."
            )
        raise_config_errors(errors)
        default_boxes = DefaultBoxGenerator(s.SCALES, s.ASPECT_RATIOS)
        last_channels = shapes[s.IN_FEATURES[-1]].channels
        in_channels = [shapes[f].channels for f in s.IN_FEATURES] + list(s.EXTRA_CHANNELS)
        return {
            "backbone": backbone,
            "in_features": s.IN_FEATURES,
            "extra_layers": ExtraLayers(last_channels, s.EXTRA_CHANNELS, extra_norm, s.EXTRA_SHORTCUT),
            "default_boxes": default_boxes,
            "head": SSDHead(in_channels, default_boxes.num_boxes_per_position, s.NUM_CLASSES, s.HEAD_NORM),
            "num_classes": s.NUM_CLASSES,
            "image_size": s.IMAGE_SIZE,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "box2box_transform": Box2BoxTransform(weights=s.BBOX_REG_WEIGHTS),
            "iou_threshold": s.IOU_THRESHOLD,
            "neg_pos_ratio": s.NEG_POS_RATIO,
            "smooth_l1_beta": s.SMOOTH_L1_BETA,
            "score_thresh_test": s.SCORE_THRESH_TEST,
            "topk_candidates_test": s.TOPK_CANDIDATES_TEST,
            "nms_thresh_test": s.NMS_THRESH_TEST,
            "max_detections_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: list[dict[str, Tensor]]) -> ImageList:
        """Normalise, then pad (with 0, the mean colour) to IMAGE_SIZE x IMAGE_SIZE, or to the
        largest image if one is larger."""
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        h = max(self.image_size, *(im.shape[-2] for im in images))
        w = max(self.image_size, *(im.shape[-1] for im in images))
        batch = images[0].new_zeros((len(images), images[0].shape[0], h, w))
        for b, im in zip(batch, images):
            b[:, : im.shape[-2], : im.shape[-1]].copy_(im)
        return ImageList(batch, [tuple(im.shape[-2:]) for im in images])

    def extract_features(self, x: Tensor) -> list[Tensor]:
        features = self.backbone(x)
        levels = [features[f] for f in self.in_features]
        return levels + self.extra_layers(levels[-1])

    def forward(self, batched_inputs: list[dict[str, Tensor]]):
        images = self.preprocess_image(batched_inputs)
        features = self.extract_features(images.tensor)
        logits, deltas = self.head(features)
        boxes = self.default_boxes([f.shape[-2:] for f in features], tuple(images.tensor.shape[-2:]), self.device)

        if self.training:
            if "instances" not in batched_inputs[0]:
                raise ValueError("ScratchDetSSD needs 'instances' in its training inputs (use the SSDMapper).")
            gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
            gt_classes, gt_deltas = ssd_targets(
                Boxes(boxes), gt_instances, self.num_classes, self.box2box_transform, self.iou_threshold
            )
            return ssd_losses(logits, deltas, gt_classes, gt_deltas, self.neg_pos_ratio, self.smooth_l1_beta)

        processed = []
        for i, x in enumerate(batched_inputs):
            size = images.image_sizes[i]
            r = self.inference_single_image(logits[i], deltas[i], boxes, size)
            processed.append({"instances": detector_postprocess(r, x.get("height", size[0]), x.get("width", size[1]))})
        return processed

    def inference_single_image(
        self, logits: Tensor, deltas: Tensor, default_boxes: Tensor, image_size: tuple[int, int]
    ) -> Instances:
        """Detections of one image: softmax scores, per class the top-k default boxes above the
        score threshold, their decoded boxes clipped to the image, per-class NMS, the best
        ``max_detections_per_image``. logits (P, C + 1), deltas (P, 4), default_boxes (P, 4)."""
        scores = F.softmax(logits, dim=-1)[:, : self.num_classes]
        k = min(self.topk_candidates_test, scores.shape[0])
        top_scores, top_idx = scores.topk(k, dim=0)  # (k, C): per class
        keep = top_scores > self.score_thresh_test
        box_idx = top_idx[keep]
        classes = keep.nonzero()[:, 1]
        scores = top_scores[keep]
        pred = Boxes(self.box2box_transform.apply_deltas(deltas[box_idx], default_boxes[box_idx]))
        pred.clip(image_size)
        kept = batched_nms(pred.tensor, scores, classes, self.nms_thresh_test)[: self.max_detections_per_image]
        result = Instances(image_size)
        result.pred_boxes = pred[kept]
        result.scores = scores[kept]
        result.pred_classes = classes[kept]
        return result
