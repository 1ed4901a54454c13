"""Exact rotations by multiples of 90 degrees.

detectron2's RotationTransform warps with an affine map and interpolates, so a 90-degree turn of
an image blurs nothing only by luck and its boxes come back enlarged; for overhead and
microscopy imagery, where every right-angle orientation is equally likely, a lossless rotation
(a transpose and flips of the pixel array) keeps images, masks and boxes exact.
"""

from __future__ import annotations

import numpy as np
from detectron2.data.transforms import Augmentation, NoOpTransform, Transform


class Rot90Transform(Transform):
    """Rotate by ``k * 90`` degrees counter-clockwise, as ``np.rot90(img, k)`` does.

    In detectron2's continuous coordinates (an image of width w covers x in [0, w]):
    k=1: (x, y) -> (y, w - x); k=2: (x, y) -> (w - x, h - y); k=3: (x, y) -> (h - y, x).
    """

    def __init__(self, h: int, w: int, k: int):
        super().__init__()
        k = int(k) % 4
        self._set_attributes(locals())

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        # Axes (0, 1) are (H, W) for HxW and HxWxC arrays alike; a copy because torch.from_numpy
        # rejects the negative strides of a rot90 view.
        return np.ascontiguousarray(np.rot90(img, self.k, axes=(0, 1)))

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return self.apply_image(segmentation)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        x, y = coords[:, 0].copy(), coords[:, 1].copy()
        if self.k == 1:
            coords[:, 0], coords[:, 1] = y, self.w - x
        elif self.k == 2:
            coords[:, 0], coords[:, 1] = self.w - x, self.h - y
        elif self.k == 3:
            coords[:, 0], coords[:, 1] = self.h - y, x
        return coords

    # apply_box (min/max of the four transformed corners) is exact: right angles map an
    # axis-aligned box onto an axis-aligned box.

    def inverse(self) -> Transform:
        h, w = (self.w, self.h) if self.k % 2 else (self.h, self.w)
        return Rot90Transform(h, w, 4 - self.k)


class RandomRot90(Augmentation):
    """Rotate by k * 90 degrees with k drawn uniformly from ``ks`` (default: all four)."""

    def __init__(self, ks: tuple[int, ...] = (0, 1, 2, 3)):
        super().__init__()
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        k = int(np.random.choice(self.ks)) % 4
        if k == 0:
            return NoOpTransform()
        h, w = image.shape[:2]
        return Rot90Transform(h, w, k)
