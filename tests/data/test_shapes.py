import hashlib
import json

import cv2
import numpy as np
from pycocotools import mask as mask_util

from scratchdet.data.datasets import SHAPES_CLASSES, build_shapes_split, make_shapes_image
from scratchdet.data.datasets.shapes import SHAPES_SPLITS


def test_images_are_deterministic():
    a, anns_a = make_shapes_image(123)
    b, anns_b = make_shapes_image(123)
    assert np.array_equal(a, b) and anns_a == anns_b
    c, _ = make_shapes_image(124)
    assert not np.array_equal(a, c)


def test_build_split_is_deterministic(tmp_path, monkeypatch):
    monkeypatch.setitem(SHAPES_SPLITS, "tiny", (6, 7))
    j1 = build_shapes_split(str(tmp_path / "a"), "tiny")
    j2 = build_shapes_split(str(tmp_path / "b"), "tiny")
    assert hashlib.md5(open(j1, "rb").read()).digest() == hashlib.md5(open(j2, "rb").read()).digest()
    for name in ("00000.png", "00005.png"):
        assert open(tmp_path / "a" / "tiny" / name, "rb").read() == open(tmp_path / "b" / "tiny" / name, "rb").read()


def test_annotations_are_consistent_visible_masks():
    """Boxes are the tight boxes of the visible masks, polygons (holes included) re-rasterise to
    those masks, every class occurs, and occluded parts are not part of any mask."""
    n_inst, classes, ious = 0, set(), []
    for seed in range(40):
        img, anns, masks = make_shapes_image(seed, return_masks=True)
        h, w = img.shape[:2]
        union = np.zeros((h, w), bool)
        for a, vis in zip(anns, masks):
            ys, xs = np.nonzero(vis)
            assert a["bbox"] == [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
            assert a["area"] == vis.sum()
            rle = mask_util.merge(mask_util.frPyObjects(a["segmentation"], h, w))
            m = mask_util.decode(rle).astype(bool)
            ious.append((m & vis).sum() / (m | vis).sum())
            assert not (union & vis).any()  # visible masks are disjoint
            union |= vis
            classes.add(a["category_index"])
            n_inst += 1
    assert n_inst > 100 and classes == set(range(len(SHAPES_CLASSES)))
    assert np.median(ious) > 0.85 and min(ious) > 0.3  # tiny slivers lose most to rounding


def test_ring_polygon_keeps_its_hole():
    from scratchdet.data.datasets.shapes import _mask_to_polygons

    m = np.zeros((40, 40), np.uint8)
    cv2.circle(m, (20, 20), 15, 1, -1)
    cv2.circle(m, (20, 20), 7, 0, -1)
    polys = _mask_to_polygons(m)
    assert len(polys) == 1
    r = mask_util.decode(mask_util.merge(mask_util.frPyObjects(polys, 40, 40))).astype(bool)
    assert not r[20, 20] and r[20, 8]
    assert (r & m.astype(bool)).sum() / (r | m.astype(bool)).sum() > 0.85


def test_registered_split_has_scale_variation():
    from detectron2.data import DatasetCatalog

    dicts = DatasetCatalog.get("shapes_val")
    assert len(dicts) == SHAPES_SPLITS["val"][0]
    sides = [np.sqrt(a["bbox"][2] * a["bbox"][3]) for d in dicts for a in d["annotations"]]
    assert min(sides) < 12 and max(sides) > 40
    data = json.load(open(build_shapes_split(__import__("scratchdet.data.datasets.shapes", fromlist=["x"]).default_shapes_root(), "val")))
    assert {c["name"] for c in data["categories"]} == set(SHAPES_CLASSES)
