"""Labels and losses of the jigsaw classifier for canvases of four cells (Zhou et al., ECCV 2020,
"Cheaper Pre-training Lunch", Sec. 3.3).

Positions are the cells of the classifier's output grid; position ``(i, j)`` of an ``Hf x Wf``
grid over an ``H x W`` input is centred at ``((j + 0.5) W / Wf, (i + 0.5) H / Hf)``, and its
*own cell* ``r`` is the canvas cell containing that centre (none in padding outside every cell).

**ERF-adaptive dense classification** (``"erf"``, the paper's method). With ``y_i`` the one-hot
label of cell ``R_i`` (i = 1..4), ``G`` the ERF of position ``(j, k)`` over the input and ``M^i``
the binary mask of cell ``R_i``, the paper's Eq. (1) and (2) are::

    y~(j,k) = sum_i w_i(j,k) y_i
    w_r     = max(tau, sum(G * M^r) / sum(G))                          (own cell r)
    w_i     = (1 - w_r) * sum(G * M^i) / sum(G * (1 - M^r))            (i != r)

so the own cell gets at least ``tau`` (the paper: 0.7) and the other cells share the rest in
proportion to the ERF mass they hold. The cells tile the canvas, so ``sum(G)`` is the mass inside
the four cells and ``sum(G * (1 - M^r))`` that of the three others. The loss is the soft
cross-entropy per position, averaged over the positions of each cell (the paper's "block-wise
average" of the loss map), then over the cells of the batch. Its floor is the entropy of the
targets (cross-entropy >= entropy), aggregated the same way: :func:`target_entropy`.

Baselines the paper compares with (Sec. 3.3, Table 2):
- ``"global_mix"`` (global classification, CutMix-like): the feature map is average-pooled over
  the whole canvas and classified once against the four labels mixed by cell area;
- ``"block"`` (block-wise classification): the features of each cell are average-pooled on their
  own and classified as one sample with the cell's hard label.

The classifier is a 1x1 conv, an affine map, so classifying pooled features equals pooling the
logits: both baselines pool the logits of the positions concerned.
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
    """The paper's Eq. (2): weights (N, 4, P) from the ERF mass of each position inside each cell
    (N, 4, P) and the own cells (N, 4, P).

    ``w_own = max(tau, s_own / sum(s))``; ``w_i = (1 - w_own) * s_i / sum_{k != own}(s_k)``. The
    weights sum to 1. A position without own cell keeps its normalised shares; a position whose
    whole ERF lies in its own cell gets ``w_own = 1``."""
    total = shares.sum(1, keepdim=True)
    w = torch.where(total > 0, shares / total.clamp_min(1e-12), own.float())
    own_w = (w * own).sum(1, keepdim=True)
    new_own = own_w.clamp(min=tau)
    scale = (1 - new_own) / (1 - own_w).clamp_min(1e-12)  # (1 - own_w) = the others' share of sum(s)
    has_own = own.any(1, keepdim=True)
    return torch.where(has_own, torch.where(own, new_own, w * scale), w)


def soft_targets(weights: torch.Tensor, cell_labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Eq. (1): (N, num_labels, P) targets from weights (N, 4, P) and labels (N, 4)."""
    onehot = F.one_hot(cell_labels, num_labels).to(weights.dtype)  # (N, 4, K)
    return torch.einsum("nkp,nkc->ncp", weights, onehot)


def _per_cell_mean(values: torch.Tensor, own: torch.Tensor) -> torch.Tensor | None:
    """Mean over cells (that own a position) of the mean of ``values`` (N, P) over each cell's
    positions; None if no cell owns a position."""
    count = own.sum(-1)  # (N, 4)
    per_cell = (values[:, None, :] * own).sum(-1) / count.clamp_min(1)
    valid = count > 0
    return per_cell[valid].mean() if valid.any() else None


def dense_loss(logits: torch.Tensor, targets: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
    """Per-position soft cross-entropy averaged within each cell, then over cells.

    Args:
        logits, targets: (N, K, P); own: (N, 4, P) bool.
    """
    ce = -(targets * F.log_softmax(logits, 1)).sum(1)  # (N, P)
    loss = _per_cell_mean(ce, own)
    return logits.sum() * 0 if loss is None else loss  # no position in any cell: keep the graph


def target_entropy(targets: torch.Tensor, own: torch.Tensor | None = None) -> torch.Tensor:
    """Entropy of soft targets, the floor of their cross-entropy, aggregated as the loss is:
    targets (N, K, P) with ``own`` (N, 4, P): per cell then over cells (as :func:`dense_loss`);
    targets (N, K) without ``own``: mean over canvases (as :func:`global_mix_loss`)."""
    h = -(targets * targets.clamp_min(1e-12).log()).sum(1)
    if own is None:
        return h.mean()
    mean = _per_cell_mean(h, own)
    return h.new_zeros(()) if mean is None else mean


def cell_logits(logits: torch.Tensor, own: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 4, K) logits averaged over the positions of each cell (= the classifier applied to the
    cell's average-pooled features) and (N, 4) whether the cell owns a position."""
    count = own.sum(-1)
    pooled = torch.einsum("nkp,ncp->nkc", own.to(logits.dtype), logits) / count.clamp_min(1)[..., None]
    return pooled, count > 0


def block_loss(logits: torch.Tensor, own: torch.Tensor, cell_labels: torch.Tensor) -> torch.Tensor:
    """Block-wise classification: cross-entropy of each cell's pooled logits (N, K, P) against its
    label (N, 4), averaged over the cells that own a position."""
    pooled, valid = cell_logits(logits, own)
    if not valid.any():
        return logits.sum() * 0
    return F.cross_entropy(pooled[valid], cell_labels[valid])


def area_weights(cells: torch.Tensor) -> torch.Tensor:
    """(N, 4) cell areas over the canvas area covered by the four cells."""
    area = (cells[..., 2] - cells[..., 0]).clamp_min(0) * (cells[..., 3] - cells[..., 1]).clamp_min(0)
    return area / area.sum(1, keepdim=True).clamp_min(1e-12)


def global_mix_targets(cells: torch.Tensor, cell_labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """(N, K) one target per canvas: the cell labels mixed by cell area."""
    return soft_targets(area_weights(cells)[..., None], cell_labels, num_labels)[..., 0]


def global_mix_loss(logits: torch.Tensor, cells: torch.Tensor, cell_labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the globally averaged logits (N, K, P) against the area-mixed label."""
    target = global_mix_targets(cells, cell_labels, logits.shape[1])
    return -(target * F.log_softmax(logits.mean(2), 1)).sum(1).mean()


def cell_accuracy(logits: torch.Tensor, own: torch.Tensor, cell_labels: torch.Tensor) -> tuple[int, int]:
    """(correct, total) cells whose class, by the mean probability over their positions, is their
    label; cells without position are not counted."""
    probs = logits.softmax(1)
    pooled, valid = cell_logits(probs, own)
    correct = (pooled.argmax(-1) == cell_labels) & valid
    return int(correct.sum()), int(valid.sum())
