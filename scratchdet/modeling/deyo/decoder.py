"""The DETR-style decoder: layers of self-attention, deformable cross-attention and FFN, with
iterative box refinement (each layer predicts a correction of the previous layer's boxes)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .deformable_attention import MSDeformAttn
from .layers import MLP, bias_init_with_prob, inverse_sigmoid


class DecoderLayer(nn.Module):
    """Post-norm layer: queries talk to each other, then sample the multi-scale memory."""

    def __init__(
        self,
        hidden_dim: int = 256,
        num_heads: int = 8,
        num_levels: int = 3,
        num_points: int = 4,
        dim_feedforward: int = 1024,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(hidden_dim, num_heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(hidden_dim)
        self.cross_attn = MSDeformAttn(hidden_dim, num_heads, num_levels, num_points)
        self.norm2 = nn.LayerNorm(hidden_dim)
        self.linear1 = nn.Linear(hidden_dim, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, hidden_dim)
        self.norm3 = nn.LayerNorm(hidden_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        tgt: Tensor,
        query_pos: Tensor,
        reference_boxes: Tensor,
        memory: Tensor,
        spatial_shapes: list[tuple[int, int]],
        memory_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
    ) -> Tensor:
        q = k = tgt + query_pos
        tgt = self.norm1(tgt + self.dropout(self.self_attn(q, k, tgt, attn_mask=attn_mask, need_weights=False)[0]))
        cross = self.cross_attn(tgt + query_pos, reference_boxes, memory, spatial_shapes, memory_mask)
        tgt = self.norm2(tgt + self.dropout(cross))
        ffn = self.linear2(self.dropout(torch.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout(ffn))


class DeformableDecoder(nn.Module):
    """Stack of decoder layers, each with its own class and box head (for the auxiliary losses)."""

    def __init__(
        self,
        num_classes: int,
        hidden_dim: int = 256,
        num_layers: int = 6,
        num_heads: int = 8,
        num_levels: int = 3,
        num_points: int = 4,
        dim_feedforward: int = 1024,
        dropout: float = 0.0,
        look_forward_twice: bool = True,
    ):
        super().__init__()
        self.look_forward_twice = look_forward_twice
        self.layers = nn.ModuleList(
            DecoderLayer(hidden_dim, num_heads, num_levels, num_points, dim_feedforward, dropout)
            for _ in range(num_layers)
        )
        # Position of a query = an embedding of its current reference box (RT-DETR).
        self.query_pos_head = MLP(4, 2 * hidden_dim, hidden_dim, 2)
        self.class_heads = nn.ModuleList(nn.Linear(hidden_dim, num_classes) for _ in range(num_layers))
        self.box_heads = nn.ModuleList(MLP(hidden_dim, hidden_dim, 4, 3) for _ in range(num_layers))
        for head in self.class_heads:
            nn.init.constant_(head.bias, bias_init_with_prob(0.01))
        for head in self.box_heads:
            head.zero_last()

    def forward(
        self,
        tgt: Tensor,
        reference_boxes: Tensor,
        memory: Tensor,
        spatial_shapes: list[tuple[int, int]],
        memory_mask: Tensor | None = None,
        attn_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """
        Args:
            tgt: (N, Q, C) query contents; reference_boxes: (N, Q, 4) normalised (cx, cy, w, h).
            memory: (N, S, C); memory_mask: (N, S) True on padding; attn_mask: (Q, Q) True = blocked.
        Returns:
            logits (L, N, Q, K) and boxes (L, N, Q, 4) of every layer; in eval mode only the
            last layer (L = 1), since the auxiliary outputs are only used by the losses.
        """
        logits, boxes = [], []
        ref = reference_boxes.detach()
        previous = None  # the previous layer's boxes, with their gradient
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            tgt = layer(tgt, self.query_pos_head(ref), ref, memory, spatial_shapes, memory_mask, attn_mask)
            delta = self.box_heads[i](tgt)
            new_boxes = torch.sigmoid(delta + inverse_sigmoid(ref))
            if self.training:
                logits.append(self.class_heads[i](tgt))
                if self.look_forward_twice and previous is not None:
                    # Look forward twice (DINO, RT-DETR, DEYO): layer i's loss also trains layer
                    # i-1's box through the box it corrects.
                    boxes.append(torch.sigmoid(delta + inverse_sigmoid(previous)))
                else:
                    boxes.append(new_boxes)
            elif i == last:
                logits.append(self.class_heads[i](tgt))
                boxes.append(new_boxes)
            previous = new_boxes
            # Each layer samples around the previous layer's boxes, detached (Deformable DETR's
            # iterative refinement).
            ref = new_boxes.detach()
        return torch.stack(logits), torch.stack(boxes)
