"""Jigsaw (Montage) pre-training model: any registered backbone + a 1x1 conv classifier on its
last feature map, trained with ERF-adaptive dense classification on jigsaw canvases
(scratchdet.data.jigsaw). Its state dict holds ``backbone.*`` (handed to the detector) and
``classifier.*`` (dropped at the hand-over); the ERF table is a non-persistent buffer."""

from __future__ import annotations

import logging

import torch
from detectron2.config import CfgNode, configurable
from detectron2.modeling import META_ARCH_REGISTRY, Backbone, build_backbone
from detectron2.structures import ImageList
from detectron2.utils import comm
from detectron2.utils.events import get_event_storage
from torch import nn

from ...config.errors import ConfigError
from ...config.num_classes import filled_num_classes
from ..jigsaw import (
    LABEL_MODES,
    area_weights,
    block_loss,
    cell_accuracy,
    cell_logits,
    dense_loss,
    erf_radius,
    erf_weights,
    global_mix_loss,
    global_mix_targets,
    integral_maps,
    measure_erf,
    own_cells,
    position_centers,
    rect_mass,
    soft_targets,
    target_entropy,
)
from ..needs import ConfigNeeds

logger = logging.getLogger(__name__)


@META_ARCH_REGISTRY.register()
class JigsawPretrainer(nn.Module):
    """Input: mapper dicts with "image" (CHW), "cells" (4, 4) and "cell_labels" (4,) (see
    ``JigsawMapper``). Training returns ``{"loss_jigsaw"}``; inference returns per image
    ``{"logits": (K+1, Hf, Wf)}`` and, when cells are given, ``"cell_scores"``: (4, K+1) class
    probabilities averaged over the positions of each cell."""

    # No features to check (it reads one, checked in from_config); a 0 in NUM_CLASSES is the data's.
    config_needs = ConfigNeeds(num_classes_key="SCRATCHDET.JIGSAW.NUM_CLASSES", classes_from_data=True)

    @configurable
    def __init__(self, *, backbone: Backbone, num_classes: int, in_feature: str, label_mode: str = "erf",
                 tau: float = 0.5, erf_pool: int = 1, erf_num_images: int = 4,
                 pixel_mean: tuple[float, ...], pixel_std: tuple[float, ...]):
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.in_feature = in_feature
        self.label_mode = label_mode
        self.tau = tau
        self.erf_pool = erf_pool
        self.erf_num_images = erf_num_images
        self.classifier = nn.Conv2d(backbone.output_shape()[in_feature].channels, num_classes + 1, 1)
        nn.init.normal_(self.classifier.weight, std=0.01)
        nn.init.zeros_(self.classifier.bias)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        # Integral images of the ERF maps, (Hf * Wf, h + 1, w + 1); None until first measured.
        self.register_buffer("erf_integral", None, False)
        self.erf_image_hw: tuple[int, int] | None = None
        self.erf_radius: float | None = None
        self._erf_inputs: torch.Tensor | None = None  # the latest normalised training canvases

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict:
        j = cfg.SCRATCHDET.JIGSAW
        if j.LABEL_MODE not in LABEL_MODES:
            raise ConfigError(f"SCRATCHDET.JIGSAW.LABEL_MODE='{j.LABEL_MODE}': use one of {', '.join(LABEL_MODES)}.")
        if not 0 <= j.TAU <= 1:
            raise ConfigError(f"SCRATCHDET.JIGSAW.TAU={j.TAU}: use a value in [0, 1].")
        if j.ERF_POOL < 1 or j.ERF_NUM_IMAGES < 1:
            raise ConfigError("SCRATCHDET.JIGSAW.ERF_POOL and ERF_NUM_IMAGES must be at least 1.")
        backbone = build_backbone(cfg)
        shapes = backbone.output_shape()
        in_feature = j.IN_FEATURE or max(shapes, key=lambda k: shapes[k].stride)
        if in_feature not in shapes:
            raise ConfigError(f"SCRATCHDET.JIGSAW.IN_FEATURE='{in_feature}' is not a backbone output "
                              f"({', '.join(shapes)}).")
        return {
            "backbone": backbone, "num_classes": filled_num_classes(cfg, "SCRATCHDET.JIGSAW.NUM_CLASSES"), "in_feature": in_feature,
            "label_mode": j.LABEL_MODE, "tau": j.TAU, "erf_pool": j.ERF_POOL,
            "erf_num_images": j.ERF_NUM_IMAGES, "pixel_mean": cfg.MODEL.PIXEL_MEAN, "pixel_std": cfg.MODEL.PIXEL_STD,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: list[dict]) -> ImageList:
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        return ImageList.from_tensors(images, self.backbone.size_divisibility,
                                      padding_constraints=self.backbone.padding_constraints)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)[self.in_feature]

    @torch.no_grad()
    def refresh_erf(self, images: torch.Tensor | None = None) -> float:
        """Measure the backbone's ERF (eval mode) on ``images`` (normalised, (N, C, H, W)) or on
        the latest training canvases, average it over processes, and keep it for the soft
        labels. Returns the mean ERF radius (input pixels)."""
        images = images if images is not None else self._erf_inputs
        if images is None:
            raise RuntimeError("refresh_erf() needs images: run a training step first or pass them.")
        images = images[: self.erf_num_images]
        was_training = self.training
        self.eval()  # train-mode BN would couple the images and update its running statistics
        try:
            maps = measure_erf(self._features, images, self.erf_pool)
        finally:
            self.train(was_training)
        if comm.get_world_size() > 1:  # every process then uses the same labels
            torch.distributed.all_reduce(maps)
            maps /= comm.get_world_size()
        self.erf_integral = integral_maps(maps.flatten(0, 1))
        self.erf_image_hw = tuple(images.shape[-2:])
        self.erf_radius = erf_radius(maps, self.erf_image_hw, self.erf_pool)
        logger.info(f"Jigsaw ERF measured on {len(images)} canvases: mean radius {self.erf_radius:.1f} px.")
        return self.erf_radius

    def label_weights(self, cells: torch.Tensor, feat_hw: tuple[int, int], image_hw: tuple[int, int]
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(weights, own): (N, 4, Hf * Wf) weight of each cell's label in each position's target,
        and whether the cell is the position's own cell (see modeling/jigsaw/labels.py)."""
        own = own_cells(cells, position_centers(feat_hw, image_hw, cells.device))
        if self.label_mode == "block":
            return own.float(), own
        if self.label_mode == "global_mix":
            return area_weights(cells)[..., None].expand(own.shape), own
        if self.erf_integral is None or self.erf_image_hw != tuple(image_hw):
            raise RuntimeError("ERF not measured for this input size: call refresh_erf() first.")
        shares = rect_mass(self.erf_integral, cells, self.erf_pool)
        return erf_weights(shares, own, self.tau), own

    def forward(self, batched_inputs: list[dict]):
        images = self.preprocess_image(batched_inputs)
        logits = self.classifier(self._features(images.tensor))
        k, hf, wf = logits.shape[1:]
        image_hw = tuple(images.tensor.shape[-2:])
        has_cells = "cells" in batched_inputs[0]
        cells = torch.stack([x["cells"] for x in batched_inputs]).to(self.device) if has_cells else None
        if not self.training:
            return self.inference(logits, cells, image_hw)
        labels = torch.stack([x["cell_labels"] for x in batched_inputs]).to(self.device)
        flat = logits.flatten(2)
        self._erf_inputs = images.tensor[: self.erf_num_images].detach()  # for the ERFRefresh hook
        own = own_cells(cells, position_centers((hf, wf), image_hw, cells.device))
        if self.label_mode == "global_mix":
            loss = global_mix_loss(flat, cells, labels)
            floor = target_entropy(global_mix_targets(cells, labels, k))
        elif self.label_mode == "block":
            loss = block_loss(flat, own, labels)
            floor = loss.new_zeros(())  # hard labels
        else:
            if self.erf_integral is None or self.erf_image_hw != image_hw:
                self.refresh_erf()  # first step (the ERFRefresh hook refreshes it periodically)
            weights, own = self.label_weights(cells, (hf, wf), image_hw)
            targets = soft_targets(weights, labels, k)
            loss = dense_loss(flat, targets, own)
            floor = target_entropy(targets, own)
        with torch.no_grad():
            correct, total = cell_accuracy(flat, own, labels)
        # The loss cannot fall below the targets' entropy: judge it against that floor.
        _log_scalars(jigsaw_loss_floor=float(floor), jigsaw_cell_acc=correct / max(total, 1))
        return {"loss_jigsaw": loss}

    def inference(self, logits: torch.Tensor, cells: torch.Tensor | None, image_hw: tuple[int, int]) -> list[dict]:
        results = [{"logits": lg} for lg in logits]
        if cells is not None:
            own = own_cells(cells, position_centers(logits.shape[-2:], image_hw, logits.device))
            probs = logits.flatten(2).softmax(1)  # (N, K, P)
            scores, _ = cell_logits(probs, own)  # mean probability over each cell's positions
            # own cell of each position, -1 outside every cell
            position_cell = torch.where(own.any(1), own.float().argmax(1), -1)
            for r, s, pc in zip(results, scores, position_cell):
                r["cell_scores"] = s
                r["position_cell"] = pc
        return results


def _log_scalars(**scalars: float) -> None:
    """Put scalars into the trainer's event storage (metrics.json); nothing outside training."""
    try:
        storage = get_event_storage()
    except AssertionError:  # no EventStorage: called outside a trainer
        return
    storage.put_scalars(**scalars)
