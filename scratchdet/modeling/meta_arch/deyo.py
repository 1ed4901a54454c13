"""DEYO's stage 2 (Ouyang 2024, "DEYO: DETR with YOLO for step-by-step object detection"): an
end-to-end, NMS-free detector on top of a backbone and neck trained by a one-to-many detector
in stage 1 and frozen here, with a DETR-style decoder trained from scratch.

The backbone is built by ``build_backbone(cfg)`` under ``self.backbone``, exactly as detectron2's
RetinaNet does, so stage 1's ``backbone.*`` weights load by name. With ``REFERENCE_BOXES``
"stage1", stage 1's box branch is kept under ``self.head`` (``head.bbox_subnet.*``,
``head.bbox_pred.*``, RetinaNet's and FCOS's names), frozen, and decodes the queries' first boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import (
    META_ARCH_REGISTRY,
    Backbone,
    build_backbone,
    detector_postprocess,
)
from detectron2.structures import Boxes, ImageList, Instances
from torch import Tensor, nn
from torchvision.ops import box_convert

from ...config.errors import ConfigError
from ...config.feature_checks import FeatureUse
from ...config.num_classes import filled_num_classes
from ..deyo import (
    STAGE1_ARCHS,
    DeformableDecoder,
    DenoisingQueries,
    DEYOCriterion,
    HungarianMatcher,
    InputProjection,
    QuerySelection,
    Stage1BoxBranch,
    valid_positions,
)
from ..deyo.losses import CLASS_LOSSES
from ..freeze import part_to_freeze
from ..needs import ConfigNeeds

__all__ = ["DEYODetector"]


@META_ARCH_REGISTRY.register()
class DEYODetector(nn.Module):
    """Frozen backbone + neck -> input projection -> query selection -> deformable decoder.

    Training returns a dict of losses; inference returns, per image, ``{"instances": Instances}``
    with the top-k (query, class) scores as detections, without NMS.
    """

    # IN_FEATURES is checked against the backbone's outputs (e.g. after a stem change); a 0 in
    # NUM_CLASSES is the training dataset's number of classes.
    config_needs = ConfigNeeds(
        (FeatureUse("SCRATCHDET.DEYO.IN_FEATURES", top_levels=False),), "SCRATCHDET.DEYO.NUM_CLASSES",
        classes_from_data=True,
    )

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        in_features: Sequence[str],
        input_proj: InputProjection,
        query_selection: QuerySelection,
        decoder: DeformableDecoder,
        criterion: DEYOCriterion,
        denoising: DenoisingQueries | None = None,
        stage1_boxes: Stage1BoxBranch | None = None,
        freeze: str = "backbone+neck",
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        max_detections_per_image: int = 100,
    ):
        super().__init__()
        self.backbone = backbone
        self.in_features = list(in_features)
        self.input_proj = input_proj
        self.query_selection = query_selection
        self.decoder = decoder
        self.criterion = criterion
        self.denoising = denoising
        # Stage 1's box branch, under stage 1's name "head" so that the hand-over copies it.
        self.head = stage1_boxes
        # SCRATCHDET.FREEZE: the part kept frozen here too, so that a model built outside the
        # trainer (whose freeze_part converts its BN to FrozenBN) is stage 2 as well.
        self.freeze = freeze
        self.max_detections_per_image = max_detections_per_image
        # Not persistent, as in detectron2's detectors: they come from the config, not checkpoints.
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        frozen = self._frozen_part()
        if frozen is not None:
            for p in frozen.parameters():
                p.requires_grad_(False)
            frozen.eval()

    @classmethod
    def from_config(cls, cfg) -> dict:
        d = cfg.SCRATCHDET.DEYO
        backbone = build_backbone(cfg)
        shapes: dict[str, ShapeSpec] = backbone.output_shape()
        missing = [f for f in d.IN_FEATURES if f not in shapes]
        if missing or not d.IN_FEATURES:
            raise ConfigError(
                f"SCRATCHDET.DEYO.IN_FEATURES {list(d.IN_FEATURES)}: {missing or 'empty'} not among the "
                f"outputs of MODEL.BACKBONE.NAME {cfg.MODEL.BACKBONE.NAME} ({sorted(shapes)})."
            )
        if d.HIDDEN_DIM % d.NUM_HEADS:
            raise ConfigError(
                f"SCRATCHDET.DEYO.HIDDEN_DIM ({d.HIDDEN_DIM}) must be divisible by SCRATCHDET.DEYO.NUM_HEADS ({d.NUM_HEADS})."
            )
        if d.REFERENCE_BOXES not in ("stage1", "encoder_head"):
            raise ConfigError(f"SCRATCHDET.DEYO.REFERENCE_BOXES must be 'stage1' or 'encoder_head', got {d.REFERENCE_BOXES!r}.")
        if d.INPUT_PROJ_NORM not in ("BN", "GN"):
            raise ConfigError(f"SCRATCHDET.DEYO.INPUT_PROJ_NORM must be 'BN' or 'GN', got {d.INPUT_PROJ_NORM!r}.")
        stage1_boxes = None
        if d.REFERENCE_BOXES == "stage1":
            if d.STAGE1_ARCH not in STAGE1_ARCHS:
                raise ConfigError(f"SCRATCHDET.DEYO.STAGE1_ARCH must be one of {STAGE1_ARCHS}, got {d.STAGE1_ARCH!r}.")
            head_features = list(cfg.MODEL.RETINANET.IN_FEATURES)
            outside = [f for f in d.IN_FEATURES if f not in head_features or f not in shapes]
            if outside or [f for f in head_features if f not in shapes]:
                raise ConfigError(
                    f"SCRATCHDET.DEYO.REFERENCE_BOXES 'stage1': SCRATCHDET.DEYO.IN_FEATURES {list(d.IN_FEATURES)} must "
                    f"be among stage 1's head levels MODEL.RETINANET.IN_FEATURES {head_features}, themselves "
                    f"outputs of the backbone ({sorted(shapes)})."
                )
            stage1_boxes = Stage1BoxBranch.from_config(cfg, shapes, d.STAGE1_ARCH)
        if d.CLASS_LOSS not in CLASS_LOSSES:
            raise ConfigError(f"SCRATCHDET.DEYO.CLASS_LOSS must be one of {CLASS_LOSSES}, got {d.CLASS_LOSS!r}.")
        num_classes = filled_num_classes(cfg, "SCRATCHDET.DEYO.NUM_CLASSES")
        hidden = d.HIDDEN_DIM
        matcher = HungarianMatcher(
            d.MATCHER.COST_CLASS, d.MATCHER.COST_BBOX, d.MATCHER.COST_GIOU, d.FOCAL_ALPHA, d.FOCAL_GAMMA
        )
        denoising = None
        if d.DENOISING.NUM_QUERIES > 0:
            denoising = DenoisingQueries(
                num_classes, hidden, d.DENOISING.NUM_QUERIES, d.DENOISING.LABEL_NOISE_RATIO, d.DENOISING.BOX_NOISE_SCALE
            )
        return {
            "backbone": backbone,
            "in_features": d.IN_FEATURES,
            "input_proj": InputProjection([shapes[f].channels for f in d.IN_FEATURES], hidden, d.INPUT_PROJ_NORM),
            "query_selection": QuerySelection(
                num_classes, hidden, d.NUM_QUERIES, d.ANCHOR_SCALE, box_head=stage1_boxes is None,
                anchors_per_position=1 if stage1_boxes is None else stage1_boxes.num_anchors,
            ),
            "decoder": DeformableDecoder(
                num_classes,
                hidden,
                d.NUM_DECODER_LAYERS,
                d.NUM_HEADS,
                len(d.IN_FEATURES),
                d.NUM_POINTS,
                d.DIM_FEEDFORWARD,
                d.DROPOUT,
                d.LOOK_FORWARD_TWICE,
            ),
            "criterion": DEYOCriterion(
                num_classes,
                matcher,
                d.CLASS_LOSS,
                d.CLASS_WEIGHT,
                d.BBOX_WEIGHT,
                d.GIOU_WEIGHT,
                d.FOCAL_ALPHA,
                d.VARIFOCAL_ALPHA,
                d.FOCAL_GAMMA,
            ),
            "denoising": denoising,
            "stage1_boxes": stage1_boxes,
            "freeze": cfg.SCRATCHDET.FREEZE,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "max_detections_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def _frozen_part(self) -> nn.Module | None:
        # Looked up each time, not stored: an attribute would register the module twice (and the
        # trainer's freeze_part may replace it).
        part = part_to_freeze(self, self.freeze)
        return None if part is None else part[1]

    def train(self, mode: bool = True) -> DEYODetector:
        # The frozen part stays in eval mode whatever the trainer asks: BN must keep stage 1's
        # statistics (and its running buffers must not move).
        super().train(mode)
        frozen = self._frozen_part()
        if frozen is not None:
            frozen.eval()
        return self

    def preprocess_image(self, batched_inputs: list[dict[str, Tensor]]) -> ImageList:
        """Normalise, pad and batch the images, as detectron2's dense detectors do."""
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        return ImageList.from_tensors(
            images, self.backbone.size_divisibility, padding_constraints=self.backbone.padding_constraints
        )

    def extract_features(self, images: ImageList) -> dict[str, Tensor]:
        frozen = self._frozen_part()
        if frozen is not None and frozen.training:  # someone called backbone.train() directly
            frozen.eval()
        if frozen is self.backbone:
            # No graph through the frozen part: stage 2's memory is the decoder's (DEYO's 8 GB claim).
            with torch.no_grad():
                return self.backbone(images.tensor)
        return self.backbone(images.tensor)

    def prepare_targets(self, gt_instances: list[Instances], padded_size: tuple[int, int]) -> list[dict[str, Tensor]]:
        """Ground-truth boxes as (cx, cy, w, h) normalised by the padded batch size, the frame in
        which the anchors and the sampling locations live."""
        h, w = padded_size
        scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=self.device)
        return [
            {
                "labels": inst.gt_classes.to(self.device),
                "boxes": box_convert(inst.gt_boxes.tensor.to(self.device) / scale, "xyxy", "cxcywh"),
            }
            for inst in gt_instances
        ]

    def forward(self, batched_inputs: list[dict[str, Tensor]]):
        images = self.preprocess_image(batched_inputs)
        padded_size = tuple(images.tensor.shape[-2:])
        features = self.extract_features(images)
        memory, spatial_shapes = self.input_proj([features[f] for f in self.in_features])
        valid = valid_positions(spatial_shapes, images.image_sizes, padded_size, memory.device)
        # Stage 1's decoded boxes at every position (and anchor): the candidates' reference boxes.
        candidates = None if self.head is None else self.head(features, self.in_features, padded_size)
        selected = self.query_selection(memory, spatial_shapes, valid, candidates)
        tgt, ref, attn_mask, dn = selected.content, selected.reference_boxes, None, None

        targets = None
        if self.training:
            if "instances" not in batched_inputs[0]:
                raise ValueError("DEYODetector needs 'instances' in its training inputs.")
            targets = self.prepare_targets([x["instances"] for x in batched_inputs], padded_size)
            if self.denoising is not None:
                dn = self.denoising(targets, tgt.shape[1])
            if dn is not None:
                tgt = torch.cat([dn.content, tgt], 1)
                ref = torch.cat([dn.reference_boxes, ref], 1)
                attn_mask = dn.attn_mask

        logits, boxes = self.decoder(tgt, ref, memory, spatial_shapes, ~valid, attn_mask)

        if self.training:
            num_dn = 0 if dn is None else dn.content.shape[1]
            return self.criterion(
                logits[:, :, num_dn:],
                boxes[:, :, num_dn:],
                selected.logits,
                selected.boxes,
                targets,
                dn_logits=None if dn is None else logits[:, :, :num_dn],
                dn_boxes=None if dn is None else boxes[:, :, :num_dn],
                dn_positive_indices=None if dn is None else dn.positive_indices,
                dn_num_groups=1 if dn is None else dn.num_groups,
            )

        results = self.inference(logits[-1], boxes[-1], images.image_sizes, padded_size)
        processed = []
        for r, x, size in zip(results, batched_inputs, images.image_sizes):
            height, width = x.get("height", size[0]), x.get("width", size[1])
            processed.append({"instances": detector_postprocess(r, height, width)})
        return processed

    def inference(
        self, logits: Tensor, boxes: Tensor, image_sizes: list[tuple[int, int]], padded_size: tuple[int, int]
    ) -> list[Instances]:
        """Top-k (query, class) pairs by score are the detections: one-to-one training made
        duplicates unlikely, so there is no NMS. logits (N, Q, K), boxes (N, Q, 4) normalised."""
        n, q, k = logits.shape
        h, w = padded_size
        scale = torch.tensor([w, h, w, h], dtype=boxes.dtype, device=boxes.device)
        scores, idx = logits.sigmoid().flatten(1).topk(min(self.max_detections_per_image, q * k), dim=1)
        query, classes = idx // k, idx % k
        xyxy = box_convert(boxes, "cxcywh", "xyxy") * scale
        out = []
        for i in range(n):
            r = Instances(image_sizes[i])
            r.pred_boxes = Boxes(xyxy[i, query[i]])
            r.scores = scores[i]
            r.pred_classes = classes[i]
            out.append(r)
        return out
