"""Photometric jitter changes colours only: shape, dtype and geometry are kept."""

import numpy as np
import pytest
from detectron2.data import transforms as T

from scratchdet.data.transforms import (
    HueTransform,
    RandomHue,
    RandomSaturation,
    build_photometric_augmentations,
)


@pytest.mark.parametrize("fmt", ["BGR", "RGB", "L"])
def test_photometric_keeps_geometry_and_dtype(fmt):
    channels = 1 if fmt == "L" else 3
    image = np.random.RandomState(0).randint(0, 256, (20, 30, channels)).astype(np.uint8)
    augs = build_photometric_augmentations((0.5, 1.5), (0.5, 1.5), (0.5, 1.5), 0.5, fmt)
    assert len(augs) == (2 if fmt == "L" else 4)  # no saturation or hue for grayscale
    aug_input = T.AugInput(image.copy())
    tfms = T.AugmentationList(augs)(aug_input)
    assert aug_input.image.shape == image.shape and aug_input.image.dtype == np.uint8
    boxes = np.array([[1.0, 2.0, 10.0, 15.0]])
    np.testing.assert_array_equal(tfms.apply_box(boxes.copy()), boxes)
    polygon = [np.array([[1.0, 2.0], [10.0, 2.0], [5.0, 15.0]])]
    np.testing.assert_array_equal(tfms.apply_polygons([p.copy() for p in polygon])[0], polygon[0])
    mask = (image[..., 0] > 128).astype(np.uint8)
    np.testing.assert_array_equal(tfms.apply_segmentation(mask), mask)


def test_hue_third_turn_makes_red_green():
    red_bgr = np.zeros((2, 2, 3), np.uint8)
    red_bgr[..., 2] = 255
    green = HueTransform(1 / 3, "BGR").apply_image(red_bgr)
    assert green.dtype == np.uint8
    np.testing.assert_allclose(green[0, 0], [0, 255, 0], atol=3)
    red_rgb = red_bgr[..., ::-1].astype(np.float32)
    np.testing.assert_allclose(HueTransform(1 / 3, "RGB").apply_image(red_rgb)[0, 0], [0, 255, 0], atol=1e-3)
    np.testing.assert_allclose(HueTransform(0.0, "BGR").apply_image(red_bgr), red_bgr, atol=1)


def test_random_hue_draws_within_range():
    np.random.seed(0)
    deltas = [RandomHue(0.1).get_transform(np.zeros((2, 2, 3), np.uint8)).delta for _ in range(50)]
    assert min(deltas) >= -0.1 and max(deltas) <= 0.1
    with pytest.raises(ValueError):
        RandomHue(0.7)


def test_saturation_zero_is_luma_gray_in_either_channel_order():
    red_bgr = np.zeros((1, 1, 3), np.uint8)
    red_bgr[..., 2] = 255
    gray = RandomSaturation(0.0, 0.0, "BGR").get_transform(red_bgr).apply_image(red_bgr)
    np.testing.assert_array_equal(gray[0, 0], [76, 76, 76])  # 0.299 * 255 = 76.2
    red_rgb = red_bgr[..., ::-1].copy()
    gray = RandomSaturation(0.0, 0.0, "RGB").get_transform(red_rgb).apply_image(red_rgb)
    np.testing.assert_array_equal(gray[0, 0], [76, 76, 76])
