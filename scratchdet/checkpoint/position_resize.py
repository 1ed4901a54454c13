"""Resizing a ViT's position terms when a checkpoint moves to another image size or window size.

The shapes of ViTDet's position terms depend on sizes: the absolute embedding ``pos_embed`` is a
grid of PRETRAIN_IMG_SIZE / PATCH_SIZE tokens per side (plus a class-token slot), and each block's
relative position tables ``rel_pos_h`` / ``rel_pos_w`` have 2 * S - 1 rows, S being the window
side (window blocks) or IMG_SIZE / PATCH_SIZE (global blocks). A checkpoint trained at 512 px
then has tensors of the wrong shape for a model at 1024 px, which loading by shape would drop
(leaving those terms at their initial values). The hand-over's conversion rule
:func:`position_term_rule` (applied by the checkpointer to every load) interpolates them
the way detectron2 does at run time (``get_abs_pos``: bicubic; ``get_rel_pos``: linear), so the
resized model computes what the old one computed on inputs of the old size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["POSITION_TERMS", "position_term_rule", "resize_abs_pos", "resize_rel_pos"]

# Leaf names of the position parameters of detectron2's (and scratchdet's) ViT.
POSITION_TERMS = ("pos_embed", "rel_pos_h", "rel_pos_w")


def _grid_side(num_tokens: int) -> tuple[int, bool]:
    """(side of the square token grid, whether a class-token slot comes first)."""
    for has_cls in (False, True):
        side = math.isqrt(num_tokens - has_cls)
        if side * side == num_tokens - has_cls:
            return side, has_cls
    raise ValueError(f"pos_embed has {num_tokens} tokens: neither a square grid nor one plus a class token.")


def resize_abs_pos(pos: Tensor, target: Tensor) -> Tensor:
    """``pos`` (1, [1 +] H*W, C) resized to the shape of ``target`` (1, [1 +] H'*W', C): the grid
    bicubically; the class-token slot kept, dropped, or taken from ``target`` if ``pos`` has none."""
    side, has_cls = _grid_side(pos.shape[1])
    new_side, new_cls = _grid_side(target.shape[1])
    grid = pos[:, int(has_cls):].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=(new_side, new_side), mode="bicubic", align_corners=False)
    out = grid.permute(0, 2, 3, 1).reshape(1, new_side * new_side, -1).to(pos.dtype)
    if new_cls:
        cls = pos[:, :1] if has_cls else target[:, :1].to(pos.dtype)
        out = torch.cat([cls, out], dim=1)
    return out


def resize_rel_pos(rel_pos: Tensor, length: int) -> Tensor:
    """A relative position table (L, C) linearly resized to ``length`` rows (as ``get_rel_pos``)."""
    resized = F.interpolate(rel_pos.float().t()[None], size=length, mode="linear")
    return resized[0].t().to(rel_pos.dtype)


def position_term_rule(key: str, src: Tensor, dst: Tensor) -> Tensor | None:
    """The hand-over's conversion rule for ViT position terms (see ``register_conversion_rule``)."""
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "pos_embed" and src.dim() == 3 and dst.dim() == 3 and src.shape[-1] == dst.shape[-1]:
        return resize_abs_pos(src, dst)
    if leaf in ("rel_pos_h", "rel_pos_w") and src.dim() == 2 and src.shape[1] == dst.shape[1]:
        return resize_rel_pos(src, dst.shape[0])
    return None
