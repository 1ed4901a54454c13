"""DEYO's training losses: focal or varifocal classification, L1 and GIoU on boxes, computed on
the final decoder output and, as auxiliary losses, on the encoder's selected queries, on every
earlier decoder layer, and on the denoising queries when they are on."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from detectron2.utils import comm
from torch import Tensor, nn
from torchvision.ops import (
    box_area,
    box_convert,
    generalized_box_iou_loss,
    sigmoid_focal_loss,
)

from .matcher import HungarianMatcher

CLASS_LOSSES = ("focal", "varifocal")


def paired_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of a[i] with b[i] (xyxy), without the (M, M) matrix of ``box_iou``."""
    inter = (torch.min(a[:, 2:], b[:, 2:]) - torch.max(a[:, :2], b[:, :2])).clamp(min=0).prod(1)
    return inter / (box_area(a) + box_area(b) - inter).clamp(min=1e-9)


def varifocal_loss(logits: Tensor, target_score: Tensor, alpha: float = 0.75, gamma: float = 2.0) -> Tensor:
    """Varifocal loss (VarifocalNet, Zhang et al. 2021), summed. ``target_score`` is the IoU of the
    matched box at its class and 0 elsewhere: the score is trained to rank boxes by quality, which
    matters when the top-k scores are the detections (no NMS)."""
    prob = logits.sigmoid().detach()
    positive = (target_score > 0).to(logits.dtype)
    weight = alpha * prob.pow(gamma) * (1 - positive) + target_score
    return F.binary_cross_entropy_with_logits(logits, target_score, weight=weight, reduction="sum")


class DEYOCriterion(nn.Module):
    def __init__(
        self,
        num_classes: int,
        matcher: HungarianMatcher,
        class_loss: str = "varifocal",
        weight_class: float = 1.0,
        weight_bbox: float = 5.0,
        weight_giou: float = 2.0,
        focal_alpha: float = 0.25,
        varifocal_alpha: float = 0.75,
        gamma: float = 2.0,
    ):
        super().__init__()
        if class_loss not in CLASS_LOSSES:
            raise ValueError(f"class_loss must be one of {CLASS_LOSSES}, got {class_loss!r}")
        self.num_classes = num_classes
        self.matcher = matcher
        self.class_loss = class_loss
        self.weights = {"loss_class": weight_class, "loss_bbox": weight_bbox, "loss_giou": weight_giou}
        self.focal_alpha = focal_alpha
        self.varifocal_alpha = varifocal_alpha
        self.gamma = gamma

    def set_loss(
        self,
        logits: Tensor,
        boxes: Tensor,
        targets: list[dict[str, Tensor]],
        indices: list[tuple[Tensor, Tensor]],
        num_boxes: float,
    ) -> dict[str, Tensor]:
        """Weighted losses of one output set (N, Q, K) / (N, Q, 4) under a given matching."""
        batch = torch.cat([torch.full_like(q, i) for i, (q, _) in enumerate(indices)])
        query = torch.cat([q for q, _ in indices])
        src_boxes = boxes[batch, query]
        tgt_boxes = torch.cat([t["boxes"][g] for t, (_, g) in zip(targets, indices)])
        tgt_labels = torch.cat([t["labels"][g] for t, (_, g) in zip(targets, indices)])

        classes = torch.full(logits.shape[:2], self.num_classes, dtype=torch.int64, device=logits.device)
        classes[batch, query] = tgt_labels
        onehot = F.one_hot(classes, self.num_classes + 1)[..., :-1].to(logits.dtype)
        if self.class_loss == "focal":
            loss_class = sigmoid_focal_loss(logits, onehot, self.focal_alpha, self.gamma, reduction="sum")
        else:
            src_xyxy = box_convert(src_boxes.detach(), "cxcywh", "xyxy")
            tgt_xyxy = box_convert(tgt_boxes, "cxcywh", "xyxy")
            iou = paired_iou(src_xyxy, tgt_xyxy)
            score = torch.zeros(logits.shape[:2], dtype=logits.dtype, device=logits.device)
            score[batch, query] = iou.to(logits.dtype)
            loss_class = varifocal_loss(logits, onehot * score[..., None], self.varifocal_alpha, self.gamma)

        # "+ 0 * sum" keeps the box heads in the graph when the batch has no box at all.
        loss_bbox = F.l1_loss(src_boxes, tgt_boxes, reduction="sum") + 0 * boxes.sum()
        loss_giou = generalized_box_iou_loss(
            box_convert(src_boxes, "cxcywh", "xyxy"), box_convert(tgt_boxes, "cxcywh", "xyxy"), reduction="sum"
        )
        losses = {"loss_class": loss_class, "loss_bbox": loss_bbox, "loss_giou": loss_giou}
        return {k: v * self.weights[k] / num_boxes for k, v in losses.items()}

    def _num_boxes(self, targets: list[dict[str, Tensor]], device) -> float:
        # Averaged over processes so every GPU normalises by the same count (as DETR does).
        n = torch.as_tensor([float(sum(len(t["labels"]) for t in targets))], device=device)
        if comm.get_world_size() > 1:
            torch.distributed.all_reduce(n)
        return max(n.item() / comm.get_world_size(), 1.0)

    def forward(
        self,
        dec_logits: Tensor,
        dec_boxes: Tensor,
        enc_logits: Tensor,
        enc_boxes: Tensor,
        targets: list[dict[str, Tensor]],
        dn_logits: Tensor | None = None,
        dn_boxes: Tensor | None = None,
        dn_positive_indices: list[tuple[Tensor, Tensor]] | None = None,
        dn_num_groups: int = 1,
    ) -> dict[str, Tensor]:
        """
        Args:
            dec_logits, dec_boxes: (L, N, Q, K) and (L, N, Q, 4) of every decoder layer.
            enc_logits, enc_boxes: (N, Q, K) and (N, Q, 4) of the encoder's selected queries.
            targets: per image "labels" (G,) and "boxes" (G, 4) normalised (cx, cy, w, h).
            dn_*: decoder outputs of the denoising queries and their known matching.
        Returns:
            ``loss_{class,bbox,giou}`` of the last layer, ``..._dec{i}`` of earlier layers,
            ``..._enc`` of the encoder and ``..._dn`` / ``..._dn_dec{i}`` of denoising, all weighted.
        """
        num_boxes = self._num_boxes(targets, dec_logits.device)
        num_layers = dec_logits.shape[0]
        out: dict[str, Tensor] = {}

        def add(losses: dict[str, Tensor], suffix: str) -> None:
            out.update({k + suffix: v for k, v in losses.items()})

        for i in range(num_layers):
            suffix = "" if i == num_layers - 1 else f"_dec{i}"
            indices = self.matcher(dec_logits[i], dec_boxes[i], targets)
            add(self.set_loss(dec_logits[i], dec_boxes[i], targets, indices, num_boxes), suffix)
        add(self.set_loss(enc_logits, enc_boxes, targets, self.matcher(enc_logits, enc_boxes, targets), num_boxes), "_enc")
        if dn_logits is not None:
            for i in range(num_layers):
                suffix = "_dn" if i == num_layers - 1 else f"_dn_dec{i}"
                add(self.set_loss(dn_logits[i], dn_boxes[i], targets, dn_positive_indices, num_boxes * dn_num_groups), suffix)
        return out
