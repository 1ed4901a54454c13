"""Exact 90-degree rotations and vertical flips: images, boxes, polygons and masks agree."""

import numpy as np
import pytest
from detectron2.data import transforms as T
from detectron2.data.detection_utils import transform_instance_annotations
from detectron2.structures import BoxMode

from scratchdet.data.transforms import RandomRot90, Rot90Transform

H, W = 4, 6
BOX = [1.0, 0.0, 3.0, 2.0]  # XYXY in a 4x6 (HxW) image
TRIANGLE = [1.0, 0.0, 3.0, 0.0, 1.0, 2.0]
# Expected box and triangle after k counter-clockwise quarter turns.
EXPECTED = {
    1: ([0.0, 3.0, 2.0, 5.0], [0.0, 5.0, 0.0, 3.0, 2.0, 5.0]),
    2: ([3.0, 2.0, 5.0, 4.0], [5.0, 4.0, 3.0, 4.0, 5.0, 2.0]),
    3: ([2.0, 1.0, 4.0, 3.0], [4.0, 1.0, 4.0, 3.0, 2.0, 1.0]),
}


def _mask_box(mask):
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rot90_box_polygon_image_and_mask_are_exact(k):
    t = Rot90Transform(H, W, k)
    anno = {"bbox": BOX, "bbox_mode": BoxMode.XYXY_ABS, "segmentation": [TRIANGLE], "category_id": 0}
    out_hw = (W, H) if k % 2 else (H, W)
    out = transform_instance_annotations(anno, [t], out_hw)
    box, poly = EXPECTED[k]
    np.testing.assert_allclose(out["bbox"], box)
    np.testing.assert_allclose(out["segmentation"][0], poly)

    image = np.arange(H * W * 3, dtype=np.uint8).reshape(H, W, 3)
    np.testing.assert_array_equal(t.apply_image(image), np.rot90(image, k))
    # The box's pixels land exactly inside the transformed box.
    mask = np.zeros((H, W), np.uint8)
    mask[0:2, 1:3] = 1
    rotated = t.apply_segmentation(mask)
    assert rotated.shape == out_hw
    assert _mask_box(rotated) == box


def test_rot90_quarter_turn_moves_a_pixel_as_documented():
    image = np.zeros((H, W), np.uint8)
    image[1, 2] = 255  # row 1, col 2: the pixel square [2, 3] x [1, 2]
    rotated = Rot90Transform(H, W, 1).apply_image(image)
    # (x, y) -> (y, w - x): x in [1, 2], y in [3, 4] -> row 3, col 1.
    assert rotated.shape == (W, H) and rotated[3, 1] == 255 and rotated.sum() == 255


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rot90_inverse_restores(k):
    t = Rot90Transform(H, W, k)
    image = np.random.RandomState(0).randint(0, 255, (H, W, 3)).astype(np.uint8)
    np.testing.assert_array_equal(t.inverse().apply_image(t.apply_image(image)), image)
    np.testing.assert_allclose(t.inverse().apply_box(t.apply_box(np.array([BOX])))[0], BOX)


def test_random_rot90_through_aug_input():
    image = np.zeros((H, W, 3), np.uint8)
    aug_input = T.AugInput(image)
    tfm = RandomRot90(ks=(1,))(aug_input)
    assert aug_input.image.shape == (W, H, 3)
    assert isinstance(tfm, Rot90Transform) and tfm.k == 1
    assert isinstance(RandomRot90(ks=(0,))(T.AugInput(image)), T.NoOpTransform)


def test_vertical_flip_is_exact():
    # The policy's vertical flip is detectron2's RandomFlip(vertical=True): (x, y) -> (x, h - y).
    flip = T.RandomFlip(prob=1.0, horizontal=False, vertical=True)
    image = np.arange(H * W, dtype=np.uint8).reshape(H, W)
    tfm = flip.get_transform(image)
    anno = {"bbox": BOX, "bbox_mode": BoxMode.XYXY_ABS, "segmentation": [TRIANGLE], "category_id": 0}
    out = transform_instance_annotations(anno, [tfm], (H, W))
    np.testing.assert_allclose(out["bbox"], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(out["segmentation"][0], [1.0, 4.0, 3.0, 4.0, 1.0, 2.0])
    np.testing.assert_array_equal(tfm.apply_image(image), image[::-1])
