"""SSD's default boxes (prior boxes): a fixed set of boxes per position of each detection level.

Level k of m has scale ``s_k`` (a fraction of the input side). At every position (i, j) of its
``h x w`` map, centred at ((j + 0.5) / w, (i + 0.5) / h) of the input (the SSD paper's
formula), it places, in this order: a square box of side s_k, a square box of side
sqrt(s_k s_{k+1}), then for each aspect ratio r a box of width s_k sqrt(r) and height
s_k / sqrt(r) and its transpose (ratio 1 / r). Boxes are not clipped to the image (Caffe SSD).

Why not torchvision's ``DefaultBoxGenerator`` (same formula): it takes a torchvision ImageList
and returns one pixel-box tensor per image on every call; the SSD here needs one set per
feature-map size, as detectron2 ``Boxes``, computed once and cached across images and steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["DefaultBoxGenerator", "default_box_shapes"]


def default_box_shapes(scale: float, next_scale: float, aspect_ratios: Sequence[float]) -> list[tuple[float, float]]:
    """(width, height) of the boxes of one position, as fractions of the input side."""
    shapes = [(scale, scale), (math.sqrt(scale * next_scale),) * 2]
    for r in aspect_ratios:
        shapes += [(scale * math.sqrt(r), scale / math.sqrt(r)), (scale / math.sqrt(r), scale * math.sqrt(r))]
    return shapes


class DefaultBoxGenerator(nn.Module):
    """Default boxes of all levels, in the order the head predicts them: level by level, then
    row-major positions, then the boxes of a position.

    Args:
        scales: one scale per level plus one (the last only sets the last level's second box).
        aspect_ratios: per level, the ratios r > 1 (each adds r and 1 / r); a single list is
            used for every level.
    """

    def __init__(self, scales: Sequence[float], aspect_ratios: Sequence[Sequence[float]]):
        super().__init__()
        num_levels = len(scales) - 1
        if num_levels < 1:
            raise ValueError(f"Need at least two scales (one level), got {list(scales)}.")
        if len(aspect_ratios) == 1:
            aspect_ratios = list(aspect_ratios) * num_levels
        if len(aspect_ratios) != num_levels:
            raise ValueError(f"{num_levels} levels ({len(scales)} scales) but {len(aspect_ratios)} aspect-ratio lists.")
        self.shapes = [
            torch.tensor(default_box_shapes(scales[k], scales[k + 1], aspect_ratios[k])) for k in range(num_levels)
        ]
        # Boxes depend only on the map sizes, which are fixed for a fixed input size: cache them.
        self._cache: dict[tuple, torch.Tensor] = {}

    @property
    def num_levels(self) -> int:
        return len(self.shapes)

    @property
    def num_boxes_per_position(self) -> list[int]:
        return [len(s) for s in self.shapes]

    def forward(
        self, feature_sizes: Sequence[tuple[int, int]], image_size: tuple[int, int], device: torch.device | None = None
    ) -> torch.Tensor:
        """Default boxes (P, 4) as XYXY pixels of an ``image_size`` (height, width) input whose
        levels have the ``(h, w)`` map sizes ``feature_sizes``."""
        if len(feature_sizes) != self.num_levels:
            raise ValueError(f"{len(feature_sizes)} feature maps for {self.num_levels} levels of default boxes.")
        key = (tuple(tuple(s) for s in feature_sizes), tuple(image_size), str(device))
        if key not in self._cache:
            self._cache[key] = self._boxes(feature_sizes, image_size).to(device)
        return self._cache[key]

    def _boxes(self, feature_sizes: Sequence[tuple[int, int]], image_size: tuple[int, int]) -> torch.Tensor:
        img_h, img_w = image_size
        out = []
        for (h, w), shapes in zip(feature_sizes, self.shapes):
            cy = (torch.arange(h, dtype=torch.float32) + 0.5) / h
            cx = (torch.arange(w, dtype=torch.float32) + 0.5) / w
            cy, cx = torch.meshgrid(cy, cx, indexing="ij")
            centres = torch.stack([cx, cy], dim=-1).reshape(-1, 1, 2)  # (h*w, 1, 2)
            half = shapes.reshape(1, -1, 2) / 2  # (1, A, 2)
            boxes = torch.cat([centres - half, centres + half], dim=-1).reshape(-1, 4)
            out.append(boxes * torch.tensor([img_w, img_h, img_w, img_h], dtype=torch.float32))
        return torch.cat(out)
