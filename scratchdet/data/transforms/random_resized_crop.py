"""The random-resized crop of classification and masked-image pre-training (Inception's crop,
as torchvision's ``RandomResizedCrop``), as a detectron2 Augmentation so that it composes with
the others and could carry boxes too."""

from __future__ import annotations

import math

import numpy as np
from detectron2.data import transforms as T
from fvcore.transforms.transform import CropTransform, TransformList


class RandomResizedCrop(T.Augmentation):
    """A crop of a random area fraction in ``scale`` and aspect ratio (w/h) in ``ratio`` (log-
    uniform), resized to ``size`` x ``size``; after 10 failed draws, the largest central crop of
    an allowed ratio. ``scale=(1, 1), ratio=(1, 1)`` is a deterministic central square."""

    def __init__(self, size: int, scale: tuple[float, float] = (0.2, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), interp: int = 2):
        super().__init__()
        self._init(locals())

    def _box(self, h: int, w: int) -> tuple[int, int, int, int]:
        area = h * w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * np.random.uniform(*self.scale)
            r = math.exp(np.random.uniform(*log_ratio))
            cw, ch = round(math.sqrt(target * r)), round(math.sqrt(target / r))
            if 0 < cw <= w and 0 < ch <= h:
                return np.random.randint(0, w - cw + 1), np.random.randint(0, h - ch + 1), cw, ch
        r = min(max(w / h, self.ratio[0]), self.ratio[1])  # fallback: central crop
        cw, ch = (w, round(w / r)) if w / h < r else (round(h * r), h)
        cw, ch = min(cw, w), min(ch, h)
        return (w - cw) // 2, (h - ch) // 2, cw, ch

    def get_transform(self, image: np.ndarray) -> TransformList:
        h, w = image.shape[:2]
        x0, y0, cw, ch = self._box(h, w)
        return TransformList([CropTransform(x0, y0, cw, ch),
                              T.ResizeTransform(ch, cw, self.size, self.size, self.interp)])
