"""datasets/prepare_nuclei.py on synthetic label images (no download): tiling, annotations, split."""

import importlib.util
import io
import json
import os
import sys
import zipfile

import cv2
import numpy as np
import pytest
import tifffile
from pycocotools import mask as mask_utils

from scratchdet.data.datasets import read_coco_json
from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("prepare_nuclei", os.path.join(REPO, "datasets", "prepare_nuclei.py"))
prep = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = prep  # dataclasses look their module up there
spec.loader.exec_module(prep)

MIN_AREA = 20


def synthetic_labels() -> np.ndarray:
    """64x96 label image (2x3 tiles of 32): discs inside tiles, discs cut by tile borders, a nucleus
    too small to keep, and one cut so that a 3x4 = 12 px fragment falls in the neighbouring tile."""
    labels = np.zeros((64, 96), np.uint16)
    for i, (cx, cy, r) in enumerate([(10, 10, 5), (50, 12, 6), (80, 45, 7), (32, 32, 6), (64, 20, 5)]):
        cv2.circle(labels, (cx, cy), r, i + 1, -1)
    labels[40:43, 2:4] = 6  # 6 px: under MIN_AREA everywhere
    labels[50:53, 28:40] = 7  # 4 columns (12 px) in tile x=0, 8 columns (24 px) in tile x=32
    return labels


def coverage(tiles, shape) -> np.ndarray:
    cov = np.zeros(shape, np.int32)
    for t in tiles:
        cov[t.y:t.y + t.size, t.x:t.x + t.size] += 1
    return cov


def test_tiles_annotations_and_split():
    labels = synthetic_labels()
    splits = prep.split_tiles(labels, tile=32, stride=32, min_area=MIN_AREA, val_fraction=0.25)
    assert len(splits["train"]) + len(splits["val"]) == 6
    # val = the last tiles in raster order (round(6 * 0.25) = 2: the bottom-right ones).
    assert [(t.y, t.x) for t in splits["val"]] == [(32, 32), (32, 64)]
    seen = set()
    for t in splits["train"] + splits["val"]:
        cut = labels[t.y:t.y + t.size, t.x:t.x + t.size]
        for a in t.annotations:
            x, y, w, h = a["bbox"]
            assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= t.size and y + h <= t.size
            assert a["area"] == (cut == a["label"]).sum()
            assert a["area"] >= MIN_AREA and a["iscrowd"] == 0 and a["category_id"] == 1
            assert a["segmentation"] and all(len(p) >= 6 for p in a["segmentation"])
            seen.add((t.y, t.x, a["label"]))
        # Every part of a nucleus of at least MIN_AREA px in the tile is annotated, and only those.
        ids, counts = np.unique(cut[cut > 0], return_counts=True)
        assert {(t.y, t.x, int(i)) for i, c in zip(ids, counts) if c >= MIN_AREA} == {
            (t.y, t.x, a["label"]) for a in t.annotations}
    assert (32, 0, 6) not in seen  # too small nucleus
    assert (32, 0, 7) not in seen and (32, 32, 7) in seen  # 12 px fragment dropped, 24 px part kept
    assert (0, 0, 4) in seen and (32, 32, 4) in seen  # a disc on a tile corner is in 4 tiles
    # The two splits never cover the same pixels.
    assert not np.any((coverage(splits["train"], labels.shape) > 0) & (coverage(splits["val"], labels.shape) > 0))


def test_overlapping_tiles_keep_splits_disjoint():
    labels = synthetic_labels()
    splits = prep.split_tiles(labels, tile=32, stride=16, min_area=MIN_AREA, val_fraction=0.25)
    # 3 rows x 5 columns of positions; train tiles overlapping a val tile are dropped.
    assert len(splits["val"]) == 4 and 0 < len(splits["train"]) < 11
    assert not np.any((coverage(splits["train"], labels.shape) > 0) & (coverage(splits["val"], labels.shape) > 0))
    with pytest.raises(ValueError):
        prep.split_tiles(labels, tile=64, stride=64, val_fraction=0.25)  # one tile: no val split possible


def test_normalize_to_uint8():
    img = np.linspace(0, 4000, 64 * 64).reshape(64, 64).astype(np.float32)
    img[0, 0] = 1e6  # a hot pixel does not squash the rest
    out = prep.normalize_to_uint8(img)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    assert 100 < out[32, 32] < 155


def fake_wheel(path, labels: np.ndarray) -> str:
    """A zip laid out like the stardist wheel, with a uint16 fluorescence image of the labels."""
    image = ((labels > 0) * 900 + 100).astype(np.uint16)
    with zipfile.ZipFile(path, "w") as z:
        for name, arr in ((prep.WHEEL_IMAGE, image), (prep.WHEEL_MASK, labels)):
            buf = io.BytesIO()
            tifffile.imwrite(buf, arr)
            z.writestr(name, buf.getvalue())
    return str(path)


def test_main_writes_coco_and_is_idempotent(tmp_path, capsys):
    labels = synthetic_labels()
    wheel = fake_wheel(tmp_path / "stardist-0.9.2-fake.whl", labels)
    out = str(tmp_path / "nuclei")
    args = ["--wheel", wheel, "--out", out, "--tile", "32", "--stride", "32"]
    assert prep.main(args) == 0
    printed = capsys.readouterr().out
    assert f"SCRATCHDET.DATA.COCO \"[['nuclei_train','{out}/train.json','{out}/train']," in printed
    assert "MODEL.ROI_HEADS.NUM_CLASSES 1" in printed
    n_images = 0
    for split in ("train", "val"):
        coco = read_coco_json(os.path.join(out, f"{split}.json"))  # the project's own COCO checks
        assert coco["categories"] == [{"id": 1, "name": "nucleus"}]
        n_images += len(coco["images"])
        images = {im["id"]: im for im in coco["images"]}
        for a in coco["annotations"]:
            im = images[a["image_id"]]
            png = cv2.imread(os.path.join(out, split, im["file_name"]), cv2.IMREAD_UNCHANGED)
            assert png.shape == (32, 32, 3) and png.dtype == np.uint8
            # The polygons draw back the pixels of the nucleus in the label mask of the tile.
            y, x = (int(v) for v in im["file_name"][len("tile_y"):-len(".png")].split("_x"))
            truth = labels[y:y + 32, x:x + 32]
            drawn = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], 32, 32)))
            ids, counts = np.unique(truth[drawn > 0], return_counts=True)
            gt = truth == ids[counts.argmax()]
            assert (gt & (drawn > 0)).sum() / (gt | (drawn > 0)).sum() > 0.95
            assert a["area"] == gt.sum()
    assert n_images == 6
    # A second run does nothing; --force rebuilds.
    mtime = os.path.getmtime(os.path.join(out, "train.json"))
    assert prep.main(args) == 0 and "nothing to do" in capsys.readouterr().out
    assert os.path.getmtime(os.path.join(out, "train.json")) == mtime
    assert prep.main([*args, "--tile", "16", "--stride", "16", "--force"]) == 0
    with open(os.path.join(out, "val.json")) as f:
        assert json.load(f)["images"][0]["height"] == 16
    assert len(os.listdir(os.path.join(out, "train"))) + len(os.listdir(os.path.join(out, "val"))) == 24
