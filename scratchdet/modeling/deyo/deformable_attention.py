"""Multi-scale deformable attention (Deformable DETR, Zhu et al. 2021) in pure PyTorch.

Each query looks at a few sampled points per head and per level, placed around its reference box
by learned offsets, and mixes them with learned weights. Sampling is bilinear through
``F.grid_sample``, so the same code runs on CPU and GPU without a compiled op.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def ms_deform_attn_core(
    value: Tensor,
    spatial_shapes: list[tuple[int, int]],
    sampling_locations: Tensor,
    attention_weights: Tensor,
) -> Tensor:
    """
    Args:
        value: (N, S, M, D) per-head values of all levels, flattened row-major level by level
            (S = sum of H*W).
        spatial_shapes: (H, W) of each level, in the order of ``value``.
        sampling_locations: (N, Lq, M, L, P, 2) points as (x, y) in [0, 1] of each level's map
            (pixel centres at (i + 0.5) / W); points outside read zeros.
        attention_weights: (N, Lq, M, L, P), usually softmax-normalised over L*P.
    Returns:
        (N, Lq, M*D).
    """
    n, _, m, d = value.shape
    _, lq, _, num_levels, num_points, _ = sampling_locations.shape
    values = value.split([h * w for h, w in spatial_shapes], dim=1)
    # grid_sample wants [-1, 1]; with align_corners=False this maps x in [0, 1] to pixel x*W - 0.5.
    grids = 2 * sampling_locations - 1
    sampled = []
    for lvl, (h, w) in enumerate(spatial_shapes):
        # (N, H*W, M, D) -> (N*M, D, H, W)
        v = values[lvl].permute(0, 2, 3, 1).reshape(n * m, d, h, w)
        # (N, Lq, M, P, 2) -> (N*M, Lq, P, 2)
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)
        sampled.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
    # (N*M, D, Lq, L*P) weighted by (N*M, 1, Lq, L*P)
    stacked = torch.stack(sampled, dim=-2).flatten(-2)
    weights = attention_weights.transpose(1, 2).reshape(n * m, 1, lq, num_levels * num_points)
    out = (stacked * weights).sum(-1).view(n, m * d, lq)
    return out.transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    """Multi-scale deformable cross-attention whose sampling points follow a reference box."""

    def __init__(self, embed_dim: int = 256, num_heads: int = 8, num_levels: int = 3, num_points: int = 4):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.num_levels = num_levels
        self.num_points = num_points
        self.sampling_offsets = nn.Linear(embed_dim, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dim, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(embed_dim, embed_dim)
        self.output_proj = nn.Linear(embed_dim, embed_dim)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # Deformable DETR's init: points start spread in each head's own direction, growing
        # with the point index, and every point starts with the same weight.
        nn.init.zeros_(self.sampling_offsets.weight)
        thetas = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi / self.num_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.num_heads, 1, 1, 2).repeat(1, self.num_levels, self.num_points, 1)
        grid = grid * torch.arange(1, self.num_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(
        self,
        query: Tensor,
        reference_boxes: Tensor,
        value: Tensor,
        spatial_shapes: list[tuple[int, int]],
        value_mask: Tensor | None = None,
    ) -> Tensor:
        """
        Args:
            query: (N, Lq, C).
            reference_boxes: (N, Lq, 4) normalised (cx, cy, w, h); offsets are scaled by the box size.
            value: (N, S, C) flattened multi-level memory.
            spatial_shapes: (H, W) per level.
            value_mask: optional (N, S) bool, True where the memory is padding (read as zero).
        Returns:
            (N, Lq, C).
        """
        n, lq, _ = query.shape
        m, lvl, p = self.num_heads, self.num_levels, self.num_points
        if len(spatial_shapes) != lvl:
            raise ValueError(f"expected {lvl} levels, got {len(spatial_shapes)}")
        v = self.value_proj(value)
        if value_mask is not None:
            v = v.masked_fill(value_mask[..., None], 0.0)
        v = v.view(n, -1, m, self.embed_dim // m)
        offsets = self.sampling_offsets(query).view(n, lq, m, lvl, p, 2)
        weights = self.attention_weights(query).view(n, lq, m, lvl * p).softmax(-1).view(n, lq, m, lvl, p)
        ref = reference_boxes[:, :, None, None, None, :]
        # Offsets are in units of half the box over the number of points (Deformable DETR, two-stage).
        locations = ref[..., :2] + offsets / p * ref[..., 2:] * 0.5
        out = ms_deform_attn_core(v, spatial_shapes, locations, weights)
        return self.output_proj(out)
