"""From neck levels to decoder queries: project each level to the decoder width, score every
position (the "encoder" output), and keep the top-k positions by class score as queries, with
their boxes (stage 1's decoded boxes in DEYO, an encoder box head's in RT-DETR) as the decoder's
first reference boxes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .layers import MLP, bias_init_with_prob, inverse_sigmoid


class InputProjection(nn.Module):
    """1x1 conv + norm per level to the decoder width, then flatten all levels into one memory.

    ``norm`` "BN" is DEYO's (and RT-DETR's) choice; "GN" does not depend on the batch size.
    """

    def __init__(self, in_channels: Sequence[int], hidden_dim: int, norm: str = "BN"):
        super().__init__()
        if norm not in ("BN", "GN"):
            raise ValueError(f"norm must be 'BN' or 'GN', got {norm!r}")

        def make_norm() -> nn.Module:
            return nn.BatchNorm2d(hidden_dim) if norm == "BN" else nn.GroupNorm(math.gcd(32, hidden_dim), hidden_dim)

        self.projs = nn.ModuleList(nn.Sequential(nn.Conv2d(c, hidden_dim, 1, bias=False), make_norm()) for c in in_channels)
        for proj in self.projs:
            nn.init.xavier_uniform_(proj[0].weight)

    def forward(self, features: Sequence[Tensor]) -> tuple[Tensor, list[tuple[int, int]]]:
        """Returns memory (N, S, C) with S = sum of H*W, levels in order, row-major, and each
        level's (H, W)."""
        flat, shapes = [], []
        for proj, x in zip(self.projs, features):
            y = proj(x)
            shapes.append((int(y.shape[2]), int(y.shape[3])))
            flat.append(y.flatten(2).transpose(1, 2))
        return torch.cat(flat, 1), shapes


def valid_positions(
    spatial_shapes: Sequence[tuple[int, int]], image_sizes: Sequence[tuple[int, int]], padded_size: tuple[int, int], device
) -> Tensor:
    """(N, S) bool: True where a position's centre lies inside its image and not in the padding
    that batching added (boxes are normalised by the padded size)."""
    ph, pw = padded_size
    out = []
    for h, w in spatial_shapes:
        cy = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * (ph / h)
        cx = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * (pw / w)
        per_image = [((cy[:, None] < ih) & (cx[None, :] < iw)).flatten() for ih, iw in image_sizes]
        out.append(torch.stack(per_image))
    return torch.cat(out, 1)


class SelectedQueries(NamedTuple):
    content: Tensor  # (N, k, C) query contents, detached encoder features at the selected positions
    reference_boxes: Tensor  # (N, k, 4) detached boxes: the decoder's starting boxes
    logits: Tensor  # (N, k, K) encoder class logits at the selected positions (for the encoder loss)
    boxes: Tensor  # (N, k, 4) encoder boxes, with gradient when a box head made them (encoder loss)
    indices: Tensor  # (N, k) selected candidates, in memory order (position * A + anchor)


class QuerySelection(nn.Module):
    """Per-position class scores and top-k selection by the best class score.

    The boxes of the candidates come either from outside (``reference_boxes``: stage 1's decoded
    boxes, DEYO) or from this module's own encoder box head over fixed anchors (``box_head``,
    RT-DETR). A position may hold ``anchors_per_position`` candidates (RetinaNet's A anchors):
    the score head then predicts A x K logits per position and the candidates of one position
    share its memory feature as content.
    """

    def __init__(self, num_classes: int, hidden_dim: int, num_queries: int, anchor_scale: float = 0.05,
                 box_head: bool = True, anchors_per_position: int = 1):
        super().__init__()
        if box_head and anchors_per_position != 1:
            raise ValueError("the encoder box head predicts one box per position (anchors_per_position 1)")
        self.num_classes = num_classes
        self.num_queries = num_queries
        self.anchors_per_position = anchors_per_position
        # Anchor side on level l is anchor_scale * 2**l of the padded image (RT-DETR's 0.05).
        self.anchor_scale = anchor_scale
        self.enc_output = nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.LayerNorm(hidden_dim))
        self.enc_score_head = nn.Linear(hidden_dim, num_classes * anchors_per_position)
        nn.init.constant_(self.enc_score_head.bias, bias_init_with_prob(0.01))
        self.enc_box_head = None
        if box_head:
            self.enc_box_head = MLP(hidden_dim, hidden_dim, 4, 3)
            self.enc_box_head.zero_last()

    def anchors(self, spatial_shapes: Sequence[tuple[int, int]], device, dtype) -> Tensor:
        """(S, 4) anchor boxes in logit space, one per position, in memory order."""
        out = []
        for lvl, (h, w) in enumerate(spatial_shapes):
            gy, gx = torch.meshgrid(
                (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h,
                (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w,
                indexing="ij",
            )
            wh = torch.full_like(gx, self.anchor_scale * 2.0**lvl)
            out.append(torch.stack([gx, gy, wh, wh], -1).reshape(-1, 4))
        return inverse_sigmoid(torch.cat(out)).to(dtype)

    def forward(self, memory: Tensor, spatial_shapes: Sequence[tuple[int, int]], valid: Tensor,
                reference_boxes: Tensor | None = None) -> SelectedQueries:
        """memory (N, S, C); valid (N, S) bool, positions that may be selected; reference_boxes
        (N, S*A, 4) normalised (cx, cy, w, h), the candidates' boxes when there is no box head."""
        n, s, _ = memory.shape
        a = self.anchors_per_position
        output = self.enc_output(memory)
        logits = self.enc_score_head(output).view(n, s * a, self.num_classes)
        if reference_boxes is not None:
            boxes_all = reference_boxes
        elif self.enc_box_head is not None:
            boxes_all = (self.enc_box_head(output) + self.anchors(spatial_shapes, memory.device, memory.dtype)).sigmoid()
        else:
            raise ValueError("QuerySelection without a box head needs reference_boxes")
        if boxes_all.shape[:2] != (n, s * a):
            raise ValueError(f"reference_boxes {tuple(boxes_all.shape)} do not match {s} positions x {a} anchors")
        k = min(self.num_queries, s * a)
        # Padding positions go last; their logits stay finite so the encoder loss stays finite.
        valid = valid.repeat_interleave(a, dim=1)
        scores = logits.detach().max(-1).values.masked_fill(~valid, float("-inf"))
        idx = scores.topk(k, dim=1).indices

        def take(t: Tensor, i: Tensor) -> Tensor:
            return torch.gather(t, 1, i[..., None].expand(-1, -1, t.shape[-1]))

        boxes = take(boxes_all, idx)
        # Queries start from the selected features and boxes, detached (DEYO, RT-DETR).
        return SelectedQueries(take(output, idx // a).detach(), boxes.detach(), take(logits, idx), boxes, idx)
