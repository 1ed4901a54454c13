"""Labels and loss of the jigsaw dense classifier, for a canvas of four cells.

Positions are the cells of the classifier's output grid; position ``(i, j)`` of an ``Hf x Wf``
grid over an ``H x W`` input is centred at ``((j + 0.5) W / Wf, (i + 0.5) H / Hf)``, and its
*own cell* is the canvas cell containing that centre (none in padding outside every cell).

Label weights ``w[n, k, p]`` (the weight of cell ``k``'s label in position ``p``'s target):
- "block": 1 for the own cell (block-wise hard labels);
- "erf": the share of the position's ERF inside each cell, renormalised over the four cells,
  then the own cell's weight raised to at least ``tau`` and the others scaled down to keep the
  sum 1 (ERF-adaptive soft labels);
- "global_mix": one target per canvas, cell labels weighted by cell area, against the globally
  averaged logits (label mixing without spatial structure).

Dense loss: cross-entropy of each position against its soft target, averaged over the positions
of each cell ("block-wise pooling"), then over all cells of the batch that own a position.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LABEL_MODES = ("erf", "global_mix", "block")


def position_centers(feat_hw: tuple[int, int], image_hw: tuple[int, int], device=None) -> torch.Tensor:
    """(Hf * Wf, 2) xy centres (input pixels) of the output positions, row-major."""
    (hf, wf), (h, w) = feat_hw, image_hw
    y = (torch.arange(hf, dtype=torch.float32, device=device) + 0.5) * h / hf
    x = (torch.arange(wf, dtype=torch.float32, device=device) + 0.5) * w / wf
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    return torch.stack([xx.flatten(), yy.flatten()], 1)


def own_cells(cells: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """(N, 4, P) bool: position p's centre lies in cell k (boxes (N, 4, 4) XYXY, half-open)."""
    c = cells[:, :, None, :]
    x, y = centers[None, None, :, 0], centers[None, None, :, 1]
    return (c[..., 0] <= x) & (x < c[..., 2]) & (c[..., 1] <= y) & (y < c[..., 3])


def erf_weights(shares: torch.Tensor, own: torch.Tensor, tau: float) -> torch.Tensor:
    """ERF-adaptive weights (N, 4, P) from ERF masses per cell (N, 4, P) and own cells (N, 4, P).

    Weights sum to 1 over the cells; the own cell's weight is ``max(share, tau)``, the other
    cells keep their relative shares. A position without own cell keeps its ERF shares."""
    total = shares.sum(1, keepdim=True)
    w = torch.where(total > 0, shares / total.clamp_min(1e-12), own.float())
    own_w = (w * own).sum(1, keepdim=True)
    new_own = own_w.clamp(min=tau)
    scale = (1 - new_own) / (1 - own_w).clamp_min(1e-12)
    has_own = own.any(1, keepdim=True)
    return torch.where(has_own, torch.where(own, new_own, w * scale), w)


def soft_targets(weights: torch.Tensor, cell_labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """(N, num_labels, P) targets from weights (N, 4, P) and labels (N, 4)."""
    onehot = F.one_hot(cell_labels, num_labels).to(weights.dtype)  # (N, 4, K)
    return torch.einsum("nkp,nkc->ncp", weights, onehot)


def dense_loss(logits: torch.Tensor, targets: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """Per-position soft cross-entropy averaged within each cell, then over cells.

    Args:
        logits, targets: (N, K, P); own: (N, 4, P) bool.
    """
    ce = -(targets * F.log_softmax(logits, 1)).sum(1)  # (N, P)
    count = own.sum(-1)  # (N, 4)
    per_cell = (ce[:, None, :] * own).sum(-1) / count.clamp_min(1)
    valid = count > 0
    if not valid.any():
        return logits.sum() * 0  # no position in any cell: nothing to learn, keep the graph
    return per_cell[valid].mean()


def area_weights(cells: torch.Tensor) -> torch.Tensor:
    """(N, 4) cell areas over the canvas area covered by the four cells."""
    area = (cells[..., 2] - cells[..., 0]).clamp_min(0) * (cells[..., 3] - cells[..., 1]).clamp_min(0)
    return area / area.sum(1, keepdim=True).clamp_min(1e-12)


def global_mix_loss(logits: torch.Tensor, cells: torch.Tensor, cell_labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the globally averaged logits (N, K, P) against the area-mixed label."""
    target = soft_targets(area_weights(cells)[..., None], cell_labels, logits.shape[1])[..., 0]  # (N, K)
    return -(target * F.log_softmax(logits.mean(2), 1)).sum(1).mean()
