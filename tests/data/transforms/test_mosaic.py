"""Mosaic's placement of four images and their boxes, polygons and masks."""

import numpy as np
import pycocotools.mask as mask_util
import pytest
from detectron2.structures import BoxMode

from scratchdet.data.transforms import Mosaic, mosaic


def anno(box, cls, poly=False):
    a = {"bbox": [float(v) for v in box], "bbox_mode": BoxMode.XYXY_ABS, "category_id": cls}
    if poly:
        x0, y0, x1, y1 = (float(v) for v in box)
        a["segmentation"] = [[x0, y0, x1, y0, x1, y1, x0, y1]]
    return a


def images():
    # Three 32x32 images and a 64x64 one (resized by 0.5 to the longer side 32), fills 1..4.
    return [np.full((32, 32, 3), 1, np.uint8), np.full((32, 32, 3), 2, np.uint8),
            np.full((64, 64, 3), 3, np.uint8), np.full((32, 32, 3), 4, np.uint8)]


def test_mosaic_places_cells_and_boxes():
    # size 32 -> 64x64 canvas; the four cells meet at (40, 24):
    # top-left image at (8, -8), top-right at (40, -8), bottom-left at (8, 24), bottom-right at (40, 24).
    annos = [
        [anno([4, 4, 12, 12], 0, poly=True), anno([0, 0, 4, 4], 9)],  # the second falls off the canvas
        [anno([4, 4, 12, 12], 1), anno([20, 20, 30, 30], 1)],
        [anno([8, 8, 24, 24], 2)],  # in the 64 px image: halved
        [anno([4, 4, 12, 12], 3)],
    ]
    canvas, out = mosaic(images(), annos, size=32, center=(40, 24), pad_value=128)
    assert canvas.shape == (64, 64, 3) and canvas.dtype == np.uint8
    assert (canvas[0:24, 8:40] == 1).all() and (canvas[0:24, 40:64] == 2).all()
    assert (canvas[24:56, 8:40] == 3).all() and (canvas[24:56, 40:64] == 4).all()
    assert (canvas[:, :8] == 128).all() and (canvas[56:] == 128).all()
    boxes = {a["category_id"]: [] for a in out}
    for a in out:
        boxes[a["category_id"]].append(np.asarray(a["bbox"]).tolist())
        assert a["bbox_mode"] == BoxMode.XYXY_ABS
    assert boxes == {
        0: [[12, 0, 20, 4]],
        1: [[44, 0, 52, 4], [60, 12, 64, 22]],
        2: [[12, 28, 20, 36]],
        3: [[44, 28, 52, 36]],
    }
    (poly,) = out[0]["segmentation"]
    np.testing.assert_allclose(poly.reshape(-1, 2).min(0), [12, 0])
    np.testing.assert_allclose(poly.reshape(-1, 2).max(0), [20, 4])


def test_mosaic_keeps_rle_masks_as_rle():
    mask = np.zeros((32, 32), np.uint8)
    mask[4:12, 4:12] = 1
    rle = mask_util.encode(np.asfortranarray(mask))
    annos = [[], [], [], [dict(anno([4, 4, 12, 12], 3), segmentation=rle)]]
    _, (a,) = mosaic(images(), annos, size=32, center=(40, 24))
    assert isinstance(a["segmentation"], dict)
    decoded = mask_util.decode(a["segmentation"])
    assert decoded.shape == (64, 64) and decoded.sum() == 64 and decoded[28:36, 44:52].all()


def test_random_mosaic_center_and_default_size():
    rng = np.random.default_rng(0)
    m = Mosaic(size=0, center_range=(0.5, 1.5))
    for _ in range(5):
        canvas, out = m(images(), [[anno([4, 4, 12, 12], i)] for i in range(4)], rng)
        assert canvas.shape == (64, 64, 3)  # size 0: the first image's longer side, 32
        for a in out:
            x0, y0, x1, y1 = a["bbox"]
            assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
    with pytest.raises(ValueError):
        Mosaic(center_range=(0.5, 2.5))
