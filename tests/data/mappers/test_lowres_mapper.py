import cv2
import numpy as np
import pytest
import torch
from detectron2.structures import BoxMode

from scratchdet.config import load_config_file
from scratchdet.data import build_mapper
from tests.conftest import DEMO_CONFIG


def _dict(tmp_path, boxes, polys=None, h=100, w=200, crowd=None):
    f = tmp_path / "img.png"
    cv2.imwrite(str(f), np.full((h, w, 3), 90, np.uint8))
    anns = []
    for i, b in enumerate(boxes):
        a = {"bbox": b, "bbox_mode": BoxMode.XYXY_ABS, "category_id": i % 5, "iscrowd": int(bool(crowd and crowd[i]))}
        if polys:
            a["segmentation"] = [polys[i]]
        anns.append(a)
    return {"file_name": str(f), "height": h, "width": w, "image_id": 1, "annotations": anns}


def _mapper(*opts):
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.TRAIN_MAPPER", "LowResPretrainMapper",
                                         "SCRATCHDET.LOWRES.IMAGE_SIZE", "448", "INPUT.RANDOM_FLIP", "none", *opts])
    return build_mapper(cfg, is_train=True)


def test_fixed_scale_gives_exact_boxes_and_masks(tmp_path):
    """Scale 1.0: a 100x200 image fits 448 at factor 2.24 (224x448), padded to 448x448."""
    box = [10, 20, 50, 60]
    poly = [10, 20, 50, 20, 50, 60, 10, 60]
    out = _mapper("SCRATCHDET.LOWRES.SCALE_RANGE", "(1.0, 1.0)")(_dict(tmp_path, [box], [poly]))
    assert tuple(out["image"].shape) == (3, 448, 448)
    inst = out["instances"]
    torch.testing.assert_close(inst.gt_boxes.tensor, torch.tensor([[22.4, 44.8, 112.0, 134.4]]), atol=0.05, rtol=0)
    m = inst.gt_masks.polygons[0][0].reshape(-1, 2)
    np.testing.assert_allclose(m.min(0), [22.4, 44.8], atol=0.05)
    np.testing.assert_allclose(m.max(0), [112.0, 134.4], atol=0.05)
    # the padding is at the bottom: rows below 224 are the pad value
    assert out["image"][:, 230:, :].float().std() == 0


def test_jitter_and_crop_keep_boxes_inside_the_square(tmp_path):
    rng_boxes = [[5, 5, 60, 40], [120, 50, 195, 95], [80, 10, 100, 30]]
    polys = [[b[0], b[1], b[2], b[1], b[2], b[3], b[0], b[3]] for b in rng_boxes]
    mapper = _mapper("SCRATCHDET.LOWRES.IMAGE_SIZE", "64", "SCRATCHDET.LOWRES.SCALE_RANGE", "(0.8, 1.2)")
    for _ in range(20):
        out = mapper(_dict(tmp_path, rng_boxes, polys, h=200, w=400))
        assert tuple(out["image"].shape) == (3, 64, 64)
        b = out["instances"].gt_boxes.tensor
        assert (b >= 0).all() and (b <= 64).all() and ((b[:, 2:] - b[:, :2]) > 0).all()


def test_empty_and_crowd_annotations(tmp_path):
    mapper = _mapper("SCRATCHDET.LOWRES.SCALE_RANGE", "(1.0, 1.0)")
    out = mapper(_dict(tmp_path, []))
    assert len(out["instances"]) == 0 and tuple(out["image"].shape) == (3, 448, 448)
    poly = [10, 20, 50, 20, 50, 60, 10, 60]
    out = mapper(_dict(tmp_path, [[10, 20, 50, 60], [60, 20, 90, 60]], [poly, poly], crowd=[True, False]))
    assert len(out["instances"]) == 1  # crowd regions are not training targets


@pytest.mark.parametrize("is_train", [False])
def test_test_time_is_the_usual_resize(tmp_path, is_train):
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.TEST_MAPPER", "LowResPretrainMapper"])
    out = build_mapper(cfg, is_train)(_dict(tmp_path, [[10, 20, 50, 60]]))
    assert tuple(out["image"].shape[1:]) == (128, 256)


def test_integer_coordinates_are_not_truncated(tmp_path):
    """fvcore scales coordinates in place: integer boxes would be floored (22.4 -> 22)."""
    out = _mapper("SCRATCHDET.LOWRES.SCALE_RANGE", "(1.0, 1.0)", "MODEL.MASK_ON", "False")(
        _dict(tmp_path, [[10, 20, 50, 60]]))
    torch.testing.assert_close(out["instances"].gt_boxes.tensor, torch.tensor([[22.4, 44.8, 112.0, 134.4]]))


def test_only_crowd_annotations(tmp_path):
    poly = [10, 20, 50, 20, 50, 60, 10, 60]
    out = _mapper()(_dict(tmp_path, [[10, 20, 50, 60]], [poly], crowd=[True]))
    assert len(out["instances"]) == 0
