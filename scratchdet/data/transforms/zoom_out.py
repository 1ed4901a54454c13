"""SSD's zoom-out ("expand"): the image placed at a random position of a larger canvas filled
with the mean colour, which makes objects smaller (and becomes zero after normalisation)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from detectron2.data.transforms import (
    Augmentation,
    CropTransform,
    NoOpTransform,
    Transform,
)

__all__ = ["ExpandTransform", "RandomExpand"]


class ExpandTransform(Transform):
    """Put an ``h x w`` image with its top-left corner at ``(x0, y0)`` of a ``canvas_h x
    canvas_w`` canvas filled with ``fill`` (one value per channel, or one for all)."""

    def __init__(self, x0: int, y0: int, h: int, w: int, canvas_h: int, canvas_w: int, fill: Sequence[float] | float):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        canvas = np.empty((self.canvas_h, self.canvas_w, *img.shape[2:]), dtype=img.dtype)
        canvas[...] = np.asarray(self.fill, dtype=np.float64).astype(img.dtype)
        canvas[self.y0 : self.y0 + self.h, self.x0 : self.x0 + self.w] = img
        return canvas

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        canvas = np.zeros((self.canvas_h, self.canvas_w, *segmentation.shape[2:]), dtype=segmentation.dtype)
        canvas[self.y0 : self.y0 + self.h, self.x0 : self.x0 + self.w] = segmentation
        return canvas

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        coords[:, 0] += self.x0
        coords[:, 1] += self.y0
        return coords

    def inverse(self) -> Transform:
        return CropTransform(self.x0, self.y0, self.w, self.h, self.canvas_w, self.canvas_h)


class RandomExpand(Augmentation):
    """With probability ``prob``, expand by a ratio drawn uniformly in [1, max_ratio] (the same
    for both sides), at a uniformly drawn position."""

    def __init__(self, max_ratio: float = 4.0, fill: Sequence[float] | float = 0.0, prob: float = 0.5):
        if max_ratio < 1:
            raise ValueError(f"max_ratio must be at least 1, got {max_ratio}.")
        super().__init__()
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        if np.random.rand() >= self.prob:
            return NoOpTransform()
        h, w = image.shape[:2]
        ratio = np.random.uniform(1.0, self.max_ratio)
        canvas_h, canvas_w = int(h * ratio), int(w * ratio)
        x0 = np.random.randint(0, canvas_w - w + 1)
        y0 = np.random.randint(0, canvas_h - h + 1)
        return ExpandTransform(x0, y0, h, w, canvas_h, canvas_w, self.fill)
