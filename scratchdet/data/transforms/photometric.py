"""Photometric jitter: brightness, contrast, saturation and hue.

detectron2 has brightness, contrast and saturation (blends) but no hue, and its saturation
assumes RGB while its mappers read BGR by default; the two are added here for either order.
Photometric transforms leave coordinates, boxes and masks untouched.
"""

from __future__ import annotations

import cv2
import numpy as np
from detectron2.data import transforms as T
from detectron2.data.transforms import Augmentation, Transform

# Channel orders whose hue and saturation are defined (detectron2's INPUT.FORMAT values).
COLOR_FORMATS = ("RGB", "BGR")
# ITU-R 601 luma weights in RGB order, as detectron2's RandomSaturation uses.
_LUMA_RGB = np.array([0.299, 0.587, 0.114])


class HueTransform(T.ColorTransform):
    """Rotate the hue of an RGB or BGR image by ``delta`` of a full turn (0.5 = 180 degrees)."""

    def __init__(self, delta: float, image_format: str = "BGR"):
        if image_format not in COLOR_FORMATS:
            raise ValueError(f"Hue is defined for {COLOR_FORMATS} images, not '{image_format}'.")
        Transform.__init__(self)  # ColorTransform's __init__ wants an op; apply_image is ours
        self._set_attributes(locals())

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        rgb = self.image_format == "RGB"
        if img.dtype == np.uint8:
            # The *_FULL conversions map hue to 0..255, finer than OpenCV's default 0..179.
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL if rgb else cv2.COLOR_BGR2HSV_FULL)
            shift = round(self.delta * 256)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + shift) % 256).astype(np.uint8)
            return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL if rgb else cv2.COLOR_HSV2BGR_FULL)
        # Float images in [0, 255]: OpenCV's float HSV has hue in degrees.
        hsv = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV if rgb else cv2.COLOR_BGR2HSV)
        hsv[..., 0] = (hsv[..., 0] + self.delta * 360.0) % 360.0
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB if rgb else cv2.COLOR_HSV2BGR) * 255.0
        return out.astype(img.dtype)


class RandomHue(Augmentation):
    """Shift the hue by a delta drawn uniformly in [-max_delta, max_delta] of a full turn."""

    def __init__(self, max_delta: float, image_format: str = "BGR"):
        if not 0 <= max_delta <= 0.5:
            raise ValueError(f"max_delta must be in [0, 0.5] (a fraction of a turn), got {max_delta}.")
        super().__init__()
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        return HueTransform(np.random.uniform(-self.max_delta, self.max_delta), self.image_format)


class RandomSaturation(T.RandomSaturation):
    """detectron2's RandomSaturation with the luma weights in the image's channel order."""

    def __init__(self, intensity_min: float, intensity_max: float, image_format: str = "BGR"):
        if image_format not in COLOR_FORMATS:
            raise ValueError(f"Saturation is defined for {COLOR_FORMATS} images, not '{image_format}'.")
        Augmentation.__init__(self)
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> Transform:
        w = np.random.uniform(self.intensity_min, self.intensity_max)
        weights = _LUMA_RGB if self.image_format == "RGB" else _LUMA_RGB[::-1]
        grayscale = image.dot(weights)[:, :, np.newaxis]
        return T.BlendTransform(src_image=grayscale, src_weight=1 - w, dst_weight=w)


def build_photometric_augmentations(
    brightness: tuple[float, float],
    contrast: tuple[float, float],
    saturation: tuple[float, float],
    hue: float,
    image_format: str,
) -> list[Augmentation]:
    """Brightness, contrast, then (for RGB/BGR images) saturation and hue."""
    augs: list[Augmentation] = [T.RandomBrightness(*brightness), T.RandomContrast(*contrast)]
    if image_format in COLOR_FORMATS:  # grayscale or YUV input has no saturation or hue to change
        augs.append(RandomSaturation(*saturation, image_format=image_format))
        if hue > 0:
            augs.append(RandomHue(hue, image_format=image_format))
    return augs
