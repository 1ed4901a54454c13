"""SSD's matching of default boxes to ground-truth boxes.

1. every default box goes to the ground truth it overlaps most, if that IoU is at least the
   threshold (0.5), otherwise to background;
2. every ground truth also takes its best default box, whatever the IoU (if it overlaps any),
   so that no object is left without a positive (SSD's "bipartite" step, done after and
   winning over step 1).

detectron2's Matcher with ``allow_low_quality_matches`` keeps step 1's assignment of such a box,
which may be another ground truth; SSD assigns it to the ground truth that chose it.
"""

from __future__ import annotations

import torch

__all__ = ["BACKGROUND", "match_default_boxes"]

# Index given to default boxes matched to no ground truth.
BACKGROUND = -1


def match_default_boxes(iou: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Index of the matched ground truth of every default box, or :data:`BACKGROUND`.

    Args:
        iou: (G, P) IoU of G ground-truth boxes with P default boxes.
    """
    num_gt, num_boxes = iou.shape
    matched = torch.full((num_boxes,), BACKGROUND, dtype=torch.int64, device=iou.device)
    if num_gt == 0 or num_boxes == 0:
        return matched
    best_iou, best_gt = iou.max(dim=0)
    keep = best_iou >= threshold
    matched[keep] = best_gt[keep]
    # Each ground truth's best box (none for a ground truth that overlaps no box at all). Two
    # ground truths with the same best box: the later one wins, as in SSD (deterministically:
    # the largest index, by scatter_reduce).
    gt_best_iou, best_box = iou.max(dim=1)
    gt = torch.arange(num_gt, device=iou.device)[gt_best_iou > 0]
    forced = torch.full_like(matched, BACKGROUND)
    forced.scatter_reduce_(0, best_box[gt_best_iou > 0], gt, reduce="amax")
    return torch.where(forced != BACKGROUND, forced, matched)
