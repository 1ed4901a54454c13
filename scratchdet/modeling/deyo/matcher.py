"""One-to-one Hungarian matching between queries and ground truth (DETR), solved by scipy.

Each ground-truth box gets exactly one query, which is what lets the detector drop NMS: the
other queries are trained towards "no object".
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn
from torchvision.ops import box_convert, generalized_box_iou


class HungarianMatcher(nn.Module):
    """Cost = w_class * focal-style class cost + w_bbox * L1(cx, cy, w, h) - w_giou * GIoU."""

    def __init__(
        self,
        cost_class: float = 2.0,
        cost_bbox: float = 5.0,
        cost_giou: float = 2.0,
        alpha: float = 0.25,
        gamma: float = 2.0,
    ):
        super().__init__()
        if cost_class == 0 and cost_bbox == 0 and cost_giou == 0:
            raise ValueError("all matching costs are zero: the assignment would be arbitrary")
        self.cost_class = cost_class
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou
        self.alpha = alpha
        self.gamma = gamma

    def cost_matrix(self, logits: Tensor, boxes: Tensor, gt_classes: Tensor, gt_boxes: Tensor) -> Tensor:
        """(Q, G) cost of one image. logits (Q, K), boxes (Q, 4) and gt_boxes (G, 4) are
        normalised (cx, cy, w, h), gt_classes (G,)."""
        prob = logits.sigmoid()[:, gt_classes]
        # The focal loss of calling the query class k, minus its loss of calling it background:
        # a confident query is cheap to match, as in Deformable DETR.
        pos = self.alpha * (1 - prob) ** self.gamma * -(prob + 1e-8).log()
        neg = (1 - self.alpha) * prob**self.gamma * -(1 - prob + 1e-8).log()
        cost = self.cost_class * (pos - neg)
        cost = cost + self.cost_bbox * torch.cdist(boxes, gt_boxes, p=1)
        giou = generalized_box_iou(box_convert(boxes, "cxcywh", "xyxy"), box_convert(gt_boxes, "cxcywh", "xyxy"))
        return cost - self.cost_giou * giou

    @torch.no_grad()
    def forward(self, logits: Tensor, boxes: Tensor, targets: list[dict[str, Tensor]]) -> list[tuple[Tensor, Tensor]]:
        """
        Args:
            logits: (N, Q, K) class logits; boxes: (N, Q, 4) normalised (cx, cy, w, h).
            targets: per image, "labels" (G,) and "boxes" (G, 4) normalised (cx, cy, w, h).
        Returns:
            per image, (query indices, ground-truth indices), both int64 of length min(Q, G).
        """
        out = []
        for i, t in enumerate(targets):
            if len(t["labels"]) == 0:
                empty = torch.zeros(0, dtype=torch.int64, device=logits.device)
                out.append((empty, empty.clone()))
                continue
            cost = self.cost_matrix(logits[i].float(), boxes[i].float(), t["labels"], t["boxes"].float())
            # A NaN/inf cost (degenerate box) would make scipy refuse the problem.
            cost = torch.nan_to_num(cost, nan=1e8, posinf=1e8, neginf=-1e8)
            rows, cols = linear_sum_assignment(cost.cpu().numpy())
            out.append(
                (
                    torch.as_tensor(rows, dtype=torch.int64, device=logits.device),
                    torch.as_tensor(cols, dtype=torch.int64, device=logits.device),
                )
            )
        return out
