"""SSD's min-IoU random crop (Caffe SSD's batch samplers).

A mode is drawn among "whole image", each minimum IoU, and "any crop"; up to ``max_trials``
crops of side ``[min_scale, 1]`` x the image side and aspect ratio in [1/2, 2] are drawn until
one overlaps some ground-truth box with IoU >= the minimum (Caffe's constraint: at least one
object, not all) and contains the centre of at least one box; otherwise another mode is drawn.
The mapper then drops the boxes whose centres are outside the crop (see SSDMapper).

detectron2's ``MinIoURandomCrop`` requires every box to pass and draws crop offsets in
``[1, w - new_w]`` (``numpy.random.uniform`` with one argument), so it is not used.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from detectron2.data.transforms import (
    Augmentation,
    CropTransform,
    NoOpTransform,
    Transform,
)

__all__ = ["MinIoURandomCrop", "box_centres_inside", "crop_iou"]


def crop_iou(crop: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one XYXY ``crop`` with each of the (N, 4) XYXY ``boxes``."""
    iw = np.clip(np.minimum(crop[2], boxes[:, 2]) - np.maximum(crop[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(crop[3], boxes[:, 3]) - np.maximum(crop[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = (crop[2] - crop[0]) * (crop[3] - crop[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def box_centres_inside(boxes: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Whether the centre of each (N, 4) XYXY box is strictly inside ``(x0, y0, x1, y1)``."""
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    return (cx > x0) & (cx < x1) & (cy > y0) & (cy < y1)


class MinIoURandomCrop(Augmentation):
    """Crop as SSD does; needs the boxes (``T.AugInput(image, boxes=...)``)."""

    def __init__(
        self,
        min_ious: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
        min_scale: float = 0.3,
        max_trials: int = 50,
        max_modes: int = 50,
    ):
        super().__init__()
        # None: keep the whole image; 0.0: any crop (only the centre condition).
        self.modes = [None, *min_ious, 0.0]
        self._init(locals())

    def get_transform(self, image: np.ndarray, boxes: np.ndarray | None) -> Transform:
        h, w = image.shape[:2]
        boxes = np.zeros((0, 4)) if boxes is None else np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        for _ in range(self.max_modes):
            min_iou = self.modes[np.random.randint(len(self.modes))]
            if min_iou is None:
                return NoOpTransform()
            for _ in range(self.max_trials):
                cw = int(np.random.uniform(self.min_scale, 1.0) * w)
                ch = int(np.random.uniform(self.min_scale, 1.0) * h)
                if cw < 1 or ch < 1 or not 0.5 <= ch / cw <= 2.0:
                    continue
                x0 = np.random.randint(0, w - cw + 1)
                y0 = np.random.randint(0, h - ch + 1)
                crop = np.array([x0, y0, x0 + cw, y0 + ch], dtype=np.float64)
                if len(boxes):  # an image without objects takes any crop
                    if crop_iou(crop, boxes).max() < min_iou:
                        continue
                    if not box_centres_inside(boxes, *crop).any():
                        continue
                return CropTransform(x0, y0, cw, ch, w, h)
        return NoOpTransform()
