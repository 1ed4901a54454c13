"""SSD's training targets and loss: softmax cross-entropy on the matched default boxes and the
hardest negatives (3 per positive), smooth-L1 on the matched boxes' encoded offsets, both
divided by the number of matched boxes.

The offsets are detectron2's :class:`Box2BoxTransform` with weights (10, 10, 5, 5), which is
SSD's encoding with variances (0.1, 0.1, 0.2, 0.2).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.structures import Boxes, Instances, pairwise_iou
from fvcore.nn import smooth_l1_loss

from .matcher import BACKGROUND, match_default_boxes

__all__ = ["hard_negative_mask", "ssd_losses", "ssd_targets"]


@torch.no_grad()
def ssd_targets(
    default_boxes: Boxes,
    gt_instances: Sequence[Instances],
    num_classes: int,
    box2box_transform: Box2BoxTransform,
    iou_threshold: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class (``num_classes`` for background) and encoded box offsets of every default box.

    Returns:
        gt_classes (N, P) int64 and gt_deltas (N, P, 4); offsets of background boxes are 0.
    """
    classes, deltas = [], []
    for inst in gt_instances:
        matched = match_default_boxes(pairwise_iou(inst.gt_boxes, default_boxes), iou_threshold)
        fg = matched != BACKGROUND
        cls = torch.full_like(matched, num_classes)
        cls[fg] = inst.gt_classes[matched[fg]]
        delta = torch.zeros_like(default_boxes.tensor)
        if fg.any():
            delta[fg] = box2box_transform.get_deltas(default_boxes.tensor[fg], inst.gt_boxes.tensor[matched[fg]])
        classes.append(cls)
        deltas.append(delta)
    return torch.stack(classes), torch.stack(deltas)


@torch.no_grad()
def hard_negative_mask(neg_loss: torch.Tensor, positive: torch.Tensor, neg_pos_ratio: float = 3.0) -> torch.Tensor:
    """The negatives SSD trains on: per image, the ``neg_pos_ratio`` x (number of positives)
    non-positive boxes of highest ``neg_loss`` (at least ``neg_pos_ratio``, so that an image
    without objects still teaches the background), or all of them if there are fewer.

    Args:
        neg_loss: (N, P) background loss of every box (only non-positive ones are ranked).
        positive: (N, P) bool, the matched boxes.
    Returns:
        (N, P) bool mask of the kept negatives.
    """
    num_pos = positive.sum(dim=1)
    num_neg = (neg_pos_ratio * num_pos.clamp(min=1)).long()
    num_neg = torch.minimum(num_neg, (~positive).sum(dim=1))
    loss = neg_loss.masked_fill(positive, float("-inf"))
    # Rank of every box in its image by decreasing loss.
    rank = loss.argsort(dim=1, descending=True).argsort(dim=1)
    return rank < num_neg[:, None]


def ssd_losses(
    pred_logits: torch.Tensor,
    pred_deltas: torch.Tensor,
    gt_classes: torch.Tensor,
    gt_deltas: torch.Tensor,
    neg_pos_ratio: float = 3.0,
    smooth_l1_beta: float = 1.0,
) -> dict[str, torch.Tensor]:
    """``loss_cls`` and ``loss_box_reg`` of a batch.

    Args:
        pred_logits: (N, P, C + 1) class logits, background last.
        pred_deltas: (N, P, 4) predicted offsets.
        gt_classes, gt_deltas: from :func:`ssd_targets`.
    """
    num_classes = pred_logits.shape[-1] - 1
    positive = gt_classes != num_classes
    ce = F.cross_entropy(pred_logits.flatten(0, 1), gt_classes.flatten(), reduction="none").view_as(gt_classes)
    # A negative's cross-entropy is its background loss: mine on it.
    negative = hard_negative_mask(ce.detach(), positive, neg_pos_ratio)
    # Normalised by the matched boxes of the batch (SSD's N), 1 if there are none.
    normalizer = max(positive.sum().item(), 1)
    loss_cls = ce[positive | negative].sum() / normalizer
    loss_box = smooth_l1_loss(
        pred_deltas[positive], gt_deltas[positive], beta=smooth_l1_beta, reduction="sum"
    ) / normalizer
    return {"loss_cls": loss_cls, "loss_box_reg": loss_box}
