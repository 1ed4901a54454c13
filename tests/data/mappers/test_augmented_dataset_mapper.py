"""AugmentedDatasetMapper on a few "shapes_train" images: valid detectron2 mapper outputs."""

import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.structures import BitMasks, PolygonMasks

from scratchdet.data import build_mapper

ALL_ON = [
    "SCRATCHDET.DATA.TRAIN_MAPPER", "AugmentedDatasetMapper", "SCRATCHDET.AUG.LSJ.IMAGE_SIZE", "128",
    "SCRATCHDET.AUG.MOSAIC.ENABLED", "True", "SCRATCHDET.AUG.COPY_PASTE.ENABLED", "True",
    "SCRATCHDET.AUG.PHOTOMETRIC.ENABLED", "True", "SCRATCHDET.AUG.VFLIP", "True", "SCRATCHDET.AUG.ROT90", "True",
]


@pytest.fixture(scope="module")
def dicts():
    return DatasetCatalog.get("shapes_train")[:3]


def check_output(out, mask_format, num_classes=5):
    image = out["image"]
    assert image.dtype == torch.uint8 and image.dim() == 3 and image.shape[0] == 3
    h, w = image.shape[1:]
    inst = out["instances"]
    assert inst.image_size == (h, w)
    boxes = inst.gt_boxes.tensor
    assert len(boxes) == len(inst.gt_classes)
    assert ((boxes[:, 0] >= 0) & (boxes[:, 1] >= 0) & (boxes[:, 2] <= w) & (boxes[:, 3] <= h)).all()
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
    assert ((inst.gt_classes >= 0) & (inst.gt_classes < num_classes)).all()
    if mask_format is None:
        assert not inst.has("gt_masks")
    else:
        assert isinstance(inst.gt_masks, PolygonMasks if mask_format == "polygon" else BitMasks)
        assert len(inst.gt_masks) == len(boxes)
    return inst


@pytest.mark.parametrize("policy", ["default", "multiscale", "lsj"])
@pytest.mark.parametrize("mask_format", ["polygon", "bitmask"])
def test_every_policy_with_mosaic_and_copy_paste(tiny_cfg, dicts, policy, mask_format):
    cfg = tiny_cfg(*ALL_ON, "SCRATCHDET.AUG.POLICY", policy, "INPUT.MASK_FORMAT", mask_format)
    mapper = build_mapper(cfg, is_train=True)
    np.random.seed(0)
    for d in dicts:
        out = mapper(d)
        inst = check_output(out, mask_format)
        assert len(inst) > 0
        if policy == "lsj":
            assert tuple(out["image"].shape[1:]) == (128, 128)
    assert "annotations" in dicts[0]  # the dataset's dicts are not modified


def test_boxes_and_masks_agree_after_copy_paste(tiny_cfg, dicts):
    cfg = tiny_cfg(*ALL_ON, "SCRATCHDET.AUG.MOSAIC.ENABLED", "False", "INPUT.MASK_FORMAT", "bitmask")
    mapper = build_mapper(cfg, is_train=True)
    np.random.seed(1)
    for d in dicts:
        inst = mapper(d)["instances"]
        # Boxes are recomputed from the (occlusion-updated) masks: tight around them.
        torch.testing.assert_close(inst.gt_boxes.tensor, inst.gt_masks.get_bounding_boxes().tensor)


def test_box_only_model_gets_no_masks(tiny_cfg, dicts):
    cfg = tiny_cfg(*ALL_ON, "MODEL.MASK_ON", "False", "SCRATCHDET.AUG.POLICY", "lsj")
    mapper = build_mapper(cfg, is_train=True)
    np.random.seed(2)
    for d in dicts:
        check_output(mapper(d), None)


def test_image_without_annotations(tiny_cfg, dicts):
    empty = dict(dicts[0], annotations=[])
    cfg = tiny_cfg(*ALL_ON, "SCRATCHDET.AUG.COPY_PASTE.ENABLED", "False", "SCRATCHDET.AUG.MOSAIC.PROB", "0.0")
    out = build_mapper(cfg, is_train=True)(empty)
    assert len(out["instances"]) == 0 and out["image"].shape[0] == 3
    cfg = tiny_cfg(*ALL_ON)
    np.random.seed(3)
    check_output(build_mapper(cfg, is_train=True)(empty), "polygon")  # pasted instances only


def test_test_time_is_detectron2s_mapper(tiny_cfg, dicts):
    cfg = tiny_cfg(*ALL_ON, "SCRATCHDET.DATA.TEST_MAPPER", "AugmentedDatasetMapper", "SCRATCHDET.AUG.POLICY", "lsj")
    ours = build_mapper(cfg, is_train=False)(dicts[0])
    ref = build_mapper(tiny_cfg("SCRATCHDET.DATA.TEST_MAPPER", "DatasetMapper"), is_train=False)(dicts[0])
    assert ours.keys() == ref.keys() and "instances" not in ours
    torch.testing.assert_close(ours["image"], ref["image"])
    assert tuple(ours["image"].shape[1:]) == (96, 96)


def test_same_seed_same_output(tiny_cfg, dicts):
    cfg = tiny_cfg(*ALL_ON, "SCRATCHDET.AUG.POLICY", "lsj")
    outs = []
    for _ in range(2):
        np.random.seed(5)
        outs.append(build_mapper(cfg, is_train=True)(dicts[1]))
    torch.testing.assert_close(outs[0]["image"], outs[1]["image"])
    torch.testing.assert_close(outs[0]["instances"].gt_boxes.tensor, outs[1]["instances"].gt_boxes.tensor)
