"""SSDMapper and its transforms: exact box geometry (zoom-out, min-IoU crop, centre rule,
resize) on known coordinates, and boxes that follow the pixels through random augmentation."""

import numpy as np
import pytest
from detectron2.data import transforms as T
from detectron2.structures import BoxMode
from PIL import Image

from scratchdet.config import load_config_file
from scratchdet.data.mappers import SSDMapper
from scratchdet.data.mappers.ssd_mapper import (
    build_ssd_augmentations,
    keep_boxes_by_centre,
)
from scratchdet.data.transforms.min_iou_crop import MinIoURandomCrop, crop_iou
from scratchdet.data.transforms.zoom_out import ExpandTransform, RandomExpand
from tests.conftest import REPO

CPU_CONFIG = f"{REPO}/projects/ScratchDet/configs/scratchdet_rootres18_shapes_cpu.yaml"
NO_AUG = ["INPUT.SSD.PHOTOMETRIC_PROB", "0.0", "INPUT.SSD.EXPAND_PROB", "0.0", "INPUT.SSD.CROP_MIN_IOUS", "[]",
          "INPUT.RANDOM_FLIP", "none", "MODEL.SSD.IMAGE_SIZE", "64"]


def test_expand_transform_exact():
    img = np.full((10, 20, 3), 7, dtype=np.uint8)
    t = ExpandTransform(x0=5, y0=3, h=10, w=20, canvas_h=30, canvas_w=40, fill=[1, 2, 3])
    out = t.apply_image(img)
    assert out.shape == (30, 40, 3)
    assert (out[3:13, 5:25] == 7).all()
    assert out[0, 0].tolist() == [1, 2, 3] and out[29, 39].tolist() == [1, 2, 3]
    np.testing.assert_array_equal(t.apply_box(np.array([[2.0, 2.0, 6.0, 8.0]])), [[7.0, 5.0, 11.0, 11.0]])
    np.testing.assert_array_equal(t.inverse().apply_image(out), img)


def test_random_expand_ratio_and_position():
    np.random.seed(0)
    aug = RandomExpand(max_ratio=3.0, fill=0, prob=1.0)
    for _ in range(20):
        t = aug.get_transform(np.zeros((10, 20, 3), dtype=np.uint8))
        assert 10 <= t.canvas_h <= 30 and 20 <= t.canvas_w <= 60
        assert 0 <= t.x0 <= t.canvas_w - 20 and 0 <= t.y0 <= t.canvas_h - 10
    assert isinstance(RandomExpand(prob=0.0).get_transform(np.zeros((4, 4, 3))), T.NoOpTransform)


def test_min_iou_crop_constraints():
    np.random.seed(0)
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    boxes = np.array([[10.0, 10.0, 90.0, 90.0], [150.0, 20.0, 190.0, 60.0]])
    aug = MinIoURandomCrop(min_ious=(0.5,), min_scale=0.3)
    aug.modes = [0.5]  # only the IoU mode: every crop must satisfy it
    crops = 0
    for _ in range(30):
        t = aug.get_transform(image, boxes)
        if isinstance(t, T.NoOpTransform):
            continue
        crops += 1
        crop = np.array([t.x0, t.y0, t.x0 + t.w, t.y0 + t.h], dtype=float)
        assert crop_iou(crop, boxes).max() >= 0.5
        assert 0.3 * 200 - 1 <= t.w <= 200 and 0.3 * 100 - 1 <= t.h <= 100 and 0.5 <= t.h / t.w <= 2
        assert t.x0 + t.w <= 200 and t.y0 + t.h <= 100
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        assert ((centres > crop[:2]) & (centres < crop[2:])).all(axis=1).any()
    assert crops > 20
    # The CropTransform moves boxes by the crop's corner, exactly.
    t = T.CropTransform(30, 5, 100, 80, 200, 100)
    np.testing.assert_array_equal(t.apply_box(boxes), [[-20.0, 5.0, 60.0, 85.0], [120.0, 15.0, 160.0, 55.0]])


def test_keep_boxes_by_centre():
    boxes = np.array([[-5.0, 0.0, 5.0, 10.0], [-2.0, 0.0, 6.0, 10.0], [50.0, 60.0, 70.0, 90.0]])
    # Centres: (0, 5) on the edge -> dropped; (2, 5) and (60, 75) inside an 80x64 image -> kept, clipped.
    clipped, keep = keep_boxes_by_centre(boxes, (80, 64))  # (h, w)
    assert keep.tolist() == [False, True, True]
    np.testing.assert_array_equal(clipped[1:], [[0.0, 0.0, 6.0, 10.0], [50.0, 60.0, 64.0, 80.0]])
    # In a 70 px high image the third centre (y = 75) is outside.
    assert keep_boxes_by_centre(boxes, (70, 64))[1].tolist() == [False, True, False]


def _dataset_dict(tmp_path, box_xywh=(40, 20, 60, 30), h=100, w=200):
    img = np.zeros((h, w, 3), dtype=np.uint8)
    x, y, bw, bh = box_xywh
    img[y : y + bh, x : x + bw] = 255
    path = tmp_path / "img.png"
    Image.fromarray(img).save(path)
    anno = {"bbox": list(box_xywh), "bbox_mode": BoxMode.XYWH_ABS, "category_id": 2, "iscrowd": 0,
            "segmentation": [[x, y, x + bw, y, x + bw, y + bh]]}
    return {"file_name": str(path), "height": h, "width": w, "image_id": 0, "annotations": [anno]}


def test_resize_only_exact(tmp_path):
    cfg = load_config_file(CPU_CONFIG, NO_AUG)
    d = _dataset_dict(tmp_path)
    out = SSDMapper(cfg, is_train=True)(d)
    assert tuple(out["image"].shape) == (3, 64, 64)
    inst = out["instances"]
    assert inst.image_size == (64, 64) and inst.gt_classes.tolist() == [2]
    assert not inst.has("gt_masks")
    # x scaled by 64 / 200, y by 64 / 100.
    np.testing.assert_allclose(inst.gt_boxes.tensor.numpy(), [[12.8, 12.8, 32.0, 32.0]], rtol=1e-6)
    test_out = SSDMapper(cfg, is_train=False)(d)
    assert tuple(test_out["image"].shape) == (3, 64, 64) and "instances" not in test_out
    assert (test_out["height"], test_out["width"]) == (100, 200)
    assert [type(a).__name__ for a in build_ssd_augmentations(cfg, False)] == ["Resize"]


@pytest.mark.parametrize("seed", range(12))
def test_boxes_follow_the_pixels(tmp_path, seed):
    # Full SSD augmentation except colour (so the white object stays white): the box must be the
    # bounding box of the white pixels (clipped), within the resize's interpolation.
    cfg = load_config_file(CPU_CONFIG, ["INPUT.SSD.PHOTOMETRIC_PROB", "0.0", "MODEL.SSD.IMAGE_SIZE", "64"])
    mapper = SSDMapper(cfg, is_train=True)
    np.random.seed(seed)
    out = mapper(_dataset_dict(tmp_path))
    image = out["image"].numpy()
    white = (image > 200).all(axis=0)
    inst = out["instances"]
    if len(inst) == 0:  # the crop left the object's centre out
        return
    ys, xs = np.nonzero(white)
    x0, y0, x1, y1 = inst.gt_boxes.tensor[0].tolist()
    assert abs(xs.min() - x0) <= 1.5 and abs(xs.max() + 1 - x1) <= 1.5
    assert abs(ys.min() - y0) <= 1.5 and abs(ys.max() + 1 - y1) <= 1.5
    assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
