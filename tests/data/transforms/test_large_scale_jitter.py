"""Large-scale jitter and the multi-scale policy with known scales and crop offsets."""

import numpy as np
import pytest
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BoxMode

from scratchdet.data.transforms import (
    build_lsj_augmentations,
    build_multiscale_augmentations,
)


def _apply(augs, image, annos):
    aug_input = T.AugInput(image)
    tfms = T.AugmentationList(augs)(aug_input)
    out = [utils.transform_instance_annotations(dict(a), tfms, aug_input.image.shape[:2]) for a in annos]
    return aug_input.image, out


def _anno(box, poly=None):
    a = {"bbox": box, "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0}
    if poly is not None:
        a["segmentation"] = [poly]
    return a


def test_lsj_downscale_pads_to_the_target():
    # 96x128 image, target 64, scale 0.5: fits 32x32 -> factor 0.25 -> 24x32, padded to 64x64.
    image = np.full((96, 128, 3), 7, np.uint8)
    augs = build_lsj_augmentations(64, (0.5, 0.5), pad_value=128.0)
    out, (anno,) = _apply(augs, image, [_anno([8.0, 4.0, 40.0, 36.0])])
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(anno["bbox"], [2.0, 1.0, 10.0, 9.0])
    assert (out[:24, :32] == 7).all() and (out[24:] == 128).all() and (out[:, 32:] == 128).all()


def test_lsj_upscale_crops_a_fixed_window(monkeypatch):
    # Scale 2 of a 64 target for a 128 image: factor 1, then a 64x64 crop at offset
    # 0.5 * (128 - 64) = 32 (np.random.uniform pinned to the middle of its range).
    monkeypatch.setattr(np.random, "uniform", lambda low=0.0, high=1.0, size=None: (low + high) / 2)
    image = np.zeros((128, 128, 3), np.uint8)
    image[32:96, 32:96] = 200
    augs = build_lsj_augmentations(64, (2.0, 2.0))
    triangle = [20.0, 40.0, 60.0, 40.0, 20.0, 80.0]
    annos = [_anno([10.0, 20.0, 50.0, 60.0]), _anno([20.0, 40.0, 60.0, 80.0], triangle)]
    out, (box_only, tri) = _apply(augs, image, annos)
    assert out.shape == (64, 64, 3) and (out == 200).all()
    np.testing.assert_allclose(box_only["bbox"], [0.0, 0.0, 18.0, 28.0])
    # The triangle is cut exactly by the crop's left edge: its hypotenuse meets x=0 at y=36.
    (poly,) = tri["segmentation"]
    pts = {tuple(p) for p in np.round(poly.reshape(-1, 2), 6)}
    assert pts == {(0.0, 8.0), (28.0, 8.0), (0.0, 36.0)}
    instances = utils.annotations_to_instances([tri], (64, 64))
    np.testing.assert_allclose(instances.gt_masks.get_bounding_boxes().tensor[0], [0.0, 8.0, 28.0, 36.0])


def test_lsj_rejects_a_bad_range():
    with pytest.raises(ValueError, match="0 < min <= max"):
        build_lsj_augmentations(64, (0.0, 2.0))


def test_multiscale_shortest_edge_in_range_and_boxes_scaled():
    (aug,) = build_multiscale_augmentations(100, (0.8, 1.0), 1000)
    assert aug.short_edge_length == (80, 100) and aug.is_range
    image = np.zeros((50, 100, 3), np.uint8)
    np.random.seed(0)
    for _ in range(5):
        out, (anno,) = _apply([aug], image, [_anno([10.0, 10.0, 20.0, 30.0])])
        short = out.shape[0]
        assert 80 <= short <= 100 and out.shape[1] == 2 * short
        np.testing.assert_allclose(anno["bbox"], np.array([10.0, 10.0, 20.0, 30.0]) * short / 50, rtol=1e-5)
