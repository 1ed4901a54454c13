"""datasets/prepare_trees.py on synthetic scenes and VOC XML (no download): tiling, box cutting,
COCO fields, the split by scene and a whole run from a fake wheel."""

import importlib.util
import json
import math
import os
import sys
import zipfile
from collections import Counter

import cv2
import numpy as np
import pytest

from scratchdet.data.datasets import read_coco_json
from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("prepare_trees", os.path.join(REPO, "datasets", "prepare_trees.py"))
prep = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = prep  # dataclasses look their module up there
spec.loader.exec_module(prep)

ANN_KEYS = {"bbox", "area", "category_id", "iscrowd"}


def voc_xml(width: int, height: int, objects) -> str:
    """A Pascal-VOC annotation like DeepForest's: (name, xmin, ymin, xmax, ymax) per object."""
    objs = "".join(f"<object><name>{n}</name><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
                   f"<ymax>{d}</ymax></bndbox></object>" for n, a, b, c, d in objects)
    return (f"<annotation><filename>x.tif</filename><size><width>{width}</width><height>{height}</height>"
            f"<depth>3</depth></size>{objs}</annotation>")


def coverage(tiles, shape) -> np.ndarray:
    cov = np.zeros(shape, np.int32)
    for y, x, h, w in tiles:
        cov[y:y + h, x:x + w] += 1
    return cov


@pytest.mark.parametrize("height,width,tile", [(1, 1, 1), (10, 7, 4), (33, 64, 32), (65, 31, 32), (97, 100, 7),
                                               (400, 400, 400), (401, 399, 400)])
def test_tile_grid_covers_every_pixel_exactly_once(height, width, tile):
    grid = prep.tile_grid(height, width, tile)
    assert (coverage(grid, (height, width)) == 1).all()
    assert all(0 < h <= tile and 0 < w <= tile for _, _, h, w in grid)
    # The fewest parts a side, nearly equal (one px apart at most), in raster order.
    ny, nx = math.ceil(height / tile), math.ceil(width / tile)
    assert len(grid) == ny * nx
    assert max(h for *_, h, _ in grid) - min(h for *_, h, _ in grid) <= 1
    assert max(w for *_, w in grid) - min(w for *_, w in grid) <= 1
    assert [(y, x) for y, x, _, _ in grid] == sorted((y, x) for y, x, _, _ in grid)


def test_tile_grid_of_the_real_scene_sizes():
    # YELL_528000_4978000 is 2299x2472 (w x h): 7 rows of ~353 px, 6 columns of ~383 px.
    grid = prep.tile_grid(2472, 2299, 400)
    assert len(grid) == 42
    assert {h for _, _, h, _ in grid} <= {353, 354} and {w for *_, w in grid} <= {383, 384}
    assert prep.tile_grid(400, 400, 400) == [(0, 0, 400, 400)]
    assert len(prep.tile_grid(400, 400, 256)) == 4  # two 200 px parts a side, not 256 + 144
    with pytest.raises(ValueError):
        prep.tile_grid(10, 10, 0)


def test_parse_voc_boxes():
    xml = voc_xml(40, 30, [("Tree", 1, 2, 11, 12), ("Dead", 30, 0, 40, 30), ("Alive", 5, 5, 9, 9), ("Dead", 0, 0, 3, 4)])
    (w, h), boxes, labels = prep.parse_voc_boxes(xml)
    assert (w, h) == (40, 30)
    assert boxes.dtype == np.float64 and boxes.shape == (4, 4)
    assert boxes.tolist() == [[1, 2, 11, 12], [30, 0, 40, 30], [5, 5, 9, 9], [0, 0, 3, 4]]  # xmax = width is kept
    assert labels == Counter({"Tree": 1, "Dead": 2, "Alive": 1})
    (_, _), empty, none = prep.parse_voc_boxes(voc_xml(8, 8, []).encode())  # bytes, as read from a zip
    assert empty.shape == (0, 4) and not none
    with pytest.raises(ValueError, match="Shrub"):
        prep.parse_voc_boxes(voc_xml(8, 8, [("Shrub", 0, 0, 4, 4)]))


def ann(a):
    assert set(a) == ANN_KEYS
    assert a["category_id"] == prep.CATEGORIES[0]["id"] == 1 and a["iscrowd"] == 0
    assert all(isinstance(v, float) for v in a["bbox"]) and isinstance(a["area"], float)
    x, y, w, h = a["bbox"]
    assert a["area"] == w * h
    return a["bbox"]


def test_tile_annotations_keep_clip_and_drop():
    # The tile covers x in [20, 60], y in [10, 40] (continuous coordinates).
    y, x, h, w = 10, 20, 30, 40

    def cut(box, min_visible=0.5, min_size=4.0):
        return [ann(a) for a in prep.tile_annotations(np.array([box], np.float64), y, x, h, w, min_visible, min_size)]

    assert cut([25, 15, 35, 27]) == [[5, 5, 10, 12]]  # inside: moved to tile coordinates
    assert cut([20, 10, 60, 40]) == [[0, 0, 40, 30]]  # exactly the tile
    # Cut by the right border, half inside: kept at a share of 0.5 (at least), clipped to the border.
    assert cut([50, 20, 70, 30], 0.5) == [[30, 10, 10, 10]]
    assert cut([50, 20, 70, 30], 0.51) == []
    assert cut([52, 20, 72, 30], 0.5) == []  # 40 % inside
    assert cut([52, 20, 72, 30], 0.4) == [[32, 10, 8, 10]]
    # Cut by a corner (top-left): a quarter inside.
    assert cut([10, 0, 30, 20], 0.5) == []
    assert cut([10, 0, 30, 20], 0.25) == [[0, 0, 10, 10]]
    # A sliver: 2 px of a 3 px high box inside the bottom border (2/3 of it) is under min_size 4.
    assert cut([22, 38, 32, 41], 0.5, 4) == []
    assert cut([22, 38, 32, 41], 0.5, 2) == [[2, 28, 10, 2]]
    assert cut([30, 20, 33, 30], 0.5, 4) == []  # an uncut box narrower than min_size too
    assert cut([0, 0, 10, 10], 1e-9, 0) == []  # outside
    assert cut([10, 10, 20, 40], 1e-9, 0) == []  # touches the left border only: nothing inside
    assert cut([30, 20, 30, 30], 1e-9, 0) == []  # degenerate box
    # Fractional coordinates stay fractional.
    assert cut([19.5, 10.25, 30.5, 20.25], 0.5, 0) == [[0, 0.25, 10.5, 10]]


def random_boxes(rng, height, width, n):
    x0 = rng.integers(0, width - 2, n)
    y0 = rng.integers(0, height - 2, n)
    x1 = np.minimum(x0 + rng.integers(2, 30, n), width)
    y1 = np.minimum(y0 + rng.integers(2, 30, n), height)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.float64)


def test_tile_annotations_over_a_grid_keep_every_box_area():
    """With every share kept, the parts of each box in the tiles add up to the box: no area lost
    and none counted twice; with min_visible 1 only the boxes entirely inside one tile remain."""
    rng = np.random.default_rng(0)
    height, width, tile = 90, 130, 32
    boxes = random_boxes(rng, height, width, 60)
    grid = prep.tile_grid(height, width, tile)
    parts = [a for y, x, h, w in grid for a in prep.tile_annotations(boxes, y, x, h, w, 1e-9, 0.0)]
    full = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    assert sum(a["area"] for a in parts) == pytest.approx(full.sum(), abs=1e-9)
    whole = 0
    for y, x, h, w in grid:
        kept = prep.tile_annotations(boxes, y, x, h, w, 1.0, 0.0)
        inside = (boxes[:, 0] >= x) & (boxes[:, 1] >= y) & (boxes[:, 2] <= x + w) & (boxes[:, 3] <= y + h)
        assert sorted(map(ann, kept)) == sorted([b[0] - x, b[1] - y, b[2] - b[0], b[3] - b[1]] for b in boxes[inside].tolist())
        for bx, by, bw, bh in map(ann, kept):
            assert bx >= 0 and by >= 0 and bx + bw <= w and by + bh <= h
        whole += len(kept)
    assert 0 < whole < len(boxes)


def test_assign_splits():
    assert prep.assign_splits(list(prep.DEFAULT_TEST), list(prep.DEFAULT_OTHERSITES)) == {
        "train": ["YELL_528000_4978000"], "test": ["YELL_541000_4977000"], "othersites": ["OSBS_029", "SOAP_061"]}
    # Scenes move between splits; the order is SCENES' order whatever the order given.
    assert prep.assign_splits(["SOAP_061", "OSBS_029"], []) == {
        "train": ["YELL_528000_4978000", "YELL_541000_4977000"], "test": ["OSBS_029", "SOAP_061"], "othersites": []}
    for test, othersites in [(["NOPE"], []),  # unknown scene
                             (["OSBS_029"], ["OSBS_029"]),  # in two splits
                             ([], ["OSBS_029"]),  # no test scene
                             (list(prep.SCENES)[:2], list(prep.SCENES)[2:])]:  # no train scene
        with pytest.raises(ValueError):
            prep.assign_splits(test, othersites)


SIZES = {"YELL_528000_4978000": (70, 75), "YELL_541000_4977000": (40, 50), "OSBS_029": (30, 30), "SOAP_061": (33, 20)}


def synthetic_scenes(seed=0):
    rng = np.random.default_rng(seed)
    scenes = []
    for name, (h, w) in SIZES.items():
        image = rng.integers(0, 256, (h, w, 3), np.uint8)
        scenes.append(prep.Scene(name, image, random_boxes(rng, h, w, 12), Counter(Tree=12)))
    return scenes


def test_split_tiles_puts_whole_scenes_in_one_split():
    scenes = synthetic_scenes()
    split_scenes = prep.assign_splits(["OSBS_029"], ["SOAP_061"])
    splits = prep.split_tiles(scenes, split_scenes, tile=16, min_visible=0.4, min_size=2.0)
    assert set(splits) == set(prep.SPLITS)
    owner = {}
    for split, tiles in splits.items():
        for t in tiles:
            assert owner.setdefault(t.scene, split) == split  # a scene's tiles are all in one split
    assert owner == {s: split for split, names in split_scenes.items() for s in names}
    for s in scenes:
        tiles = [t for t in splits[owner[s.name]] if t.scene == s.name]
        assert [(t.y, t.x, t.height, t.width) for t in tiles] == prep.tile_grid(*s.image.shape[:2], 16)
        for t in tiles:
            assert t.annotations == prep.tile_annotations(s.boxes, t.y, t.x, t.height, t.width, 0.4, 2.0)
    names = [t.file_name for tiles in splits.values() for t in tiles]
    assert len(set(names)) == len(names) and "OSBS_029_y0015_x0000.png" in names  # 30 px: two parts of 15
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError):
            prep.split_tiles(scenes, split_scenes, 16, min_visible=bad)


def test_to_coco_ids_and_fields():
    tiles = [prep.Tile("OSBS_029", 0, 0, 20, 16, prep.tile_annotations(np.array([[1, 2, 5, 9], [3, 3, 8, 8]], float),
                                                                      0, 0, 20, 16, 0.4, 1.0)),
             prep.Tile("OSBS_029", 0, 16, 20, 14, []),
             prep.Tile("OSBS_029", 20, 0, 10, 16, prep.tile_annotations(np.array([[0, 20, 4, 30]], float),
                                                                       20, 0, 10, 16, 0.4, 1.0))]
    coco = prep.to_coco(tiles, "synthetic")
    assert coco["info"] == {"description": "synthetic"} and coco["categories"] == [{"id": 1, "name": "tree"}]
    assert coco["images"] == [
        {"id": 1, "file_name": "OSBS_029_y0000_x0000.png", "height": 20, "width": 16},
        {"id": 2, "file_name": "OSBS_029_y0000_x0016.png", "height": 20, "width": 14},
        {"id": 3, "file_name": "OSBS_029_y0020_x0000.png", "height": 10, "width": 16}]
    assert [(a["id"], a["image_id"], a["bbox"], a["area"]) for a in coco["annotations"]] == [
        (1, 1, [1.0, 2.0, 4.0, 7.0], 28.0), (2, 1, [3.0, 3.0, 5.0, 5.0], 25.0), (3, 3, [0.0, 0.0, 4.0, 10.0], 40.0)]


def fake_wheel(path, scenes, boxes_xml=None) -> str:
    """A zip laid out like the deepforest wheel: the four PNG scenes and their VOC XML."""
    with zipfile.ZipFile(path, "w") as z:
        for s in scenes:
            image_file, xml_file = prep.SCENES[s.name]
            z.writestr(prep.DATA + image_file, cv2.imencode(".png", s.image)[1].tobytes())
            h, w = s.image.shape[:2]
            objects = (boxes_xml or {}).get(s.name) or [("Tree", *b) for b in s.boxes.astype(int).tolist()]
            z.writestr(prep.DATA + xml_file, voc_xml(w, h, objects))
    return str(path)


def test_read_wheel_scenes_clips_boxes_and_checks_sizes(tmp_path):
    scenes = synthetic_scenes()
    beyond = {"OSBS_029": [("Tree", -3, 25, 10, 34), ("Dead", 20, 0, 30, 5)]}  # 30x30 image: clipped to it
    read = prep.read_wheel_scenes(fake_wheel(tmp_path / "deepforest.whl", scenes, beyond))
    assert [s.name for s in read] == list(prep.SCENES)
    by_name = {s.name: s for s in read}
    assert by_name["OSBS_029"].boxes.tolist() == [[0, 25, 10, 30], [20, 0, 30, 5]]
    assert by_name["OSBS_029"].labels == Counter(Tree=1, Dead=1)
    for s in scenes:
        assert np.array_equal(by_name[s.name].image, s.image)  # PNG: the same pixels
    # An XML for another image size is refused, and so is a file that is no wheel.
    with zipfile.ZipFile(fake_wheel(tmp_path / "good.whl", scenes)) as good, zipfile.ZipFile(tmp_path / "bad.whl", "w") as bad:
        for name in good.namelist():
            wrong = name.endswith(prep.SCENES["SOAP_061"][1])
            bad.writestr(name, voc_xml(21, 33, [("Tree", 1, 1, 5, 5)]) if wrong else good.read(name))
    with pytest.raises(SystemExit, match="SOAP_061"):
        prep.read_wheel_scenes(str(tmp_path / "bad.whl"))
    (tmp_path / "not_a.whl").write_text("not a zip")
    with pytest.raises(SystemExit, match="not a deepforest wheel"):
        prep.read_wheel_scenes(str(tmp_path / "not_a.whl"))


def test_main_writes_coco_deterministically(tmp_path, capsys):
    scenes = synthetic_scenes()
    wheel = fake_wheel(tmp_path / "deepforest-2.1.0-fake.whl", scenes)
    by_name = {s.name: s for s in scenes}
    outs = [str(tmp_path / "a"), str(tmp_path / "b")]
    for out in outs:
        assert prep.main(["--wheel", wheel, "--out", out, "--tile", "32", "--min-size", "2"]) == 0
    printed = capsys.readouterr().out
    assert (f"SCRATCHDET.DATA.COCO \"[['trees_train','{outs[1]}/train.json','{outs[1]}/train'],"
            f"['trees_test','{outs[1]}/test.json','{outs[1]}/test'],"
            f"['trees_othersites','{outs[1]}/othersites.json','{outs[1]}/othersites']]\"") in printed
    assert "MODEL.ROI_HEADS.NUM_CLASSES 1 MODEL.MASK_ON False" in printed
    expected_scenes = {"train": {"YELL_528000_4978000"}, "test": {"YELL_541000_4977000"},
                       "othersites": {"OSBS_029", "SOAP_061"}}
    for split in prep.SPLITS:
        raw = [open(os.path.join(out, f"{split}.json"), "rb").read() for out in outs]
        assert raw[0] == raw[1]  # two runs, the same json byte for byte
        assert sorted(os.listdir(os.path.join(outs[0], split))) == sorted(os.listdir(os.path.join(outs[1], split)))
        coco = read_coco_json(os.path.join(outs[0], f"{split}.json"))  # the project's own COCO checks
        assert coco["categories"] == [{"id": 1, "name": "tree"}]
        assert {im["file_name"].rsplit("_y", 1)[0] for im in coco["images"]} == expected_scenes[split]
        assert sorted(im["file_name"] for im in coco["images"]) == sorted(os.listdir(os.path.join(outs[0], split)))
        images = {im["id"]: im for im in coco["images"]}
        per_image = {i: [] for i in images}
        for a in coco["annotations"]:
            per_image[a["image_id"]].append({k: a[k] for k in ANN_KEYS})
        for im in coco["images"]:
            scene, yx = im["file_name"][:-len(".png")].rsplit("_y", 1)
            y, x = (int(v) for v in yx.split("_x"))
            s = by_name[scene]
            png = cv2.imread(os.path.join(outs[0], split, im["file_name"]), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(png, s.image[y:y + im["height"], x:x + im["width"]])  # the tile's pixels
            assert per_image[im["id"]] == prep.tile_annotations(s.boxes, y, x, im["height"], im["width"], 0.4, 2.0)
    n_tiles = {split: len(json.load(open(os.path.join(outs[0], f"{split}.json")))["images"]) for split in prep.SPLITS}
    assert n_tiles == {"train": 9, "test": 4, "othersites": 3}  # (h, w) 70x75: 3x3, 40x50: 2x2, 30x30: 1, 33x20: 2x1

    # A second run does nothing; --force with another tile and split replaces the tiles of the first.
    args = ["--wheel", wheel, "--out", outs[0]]
    assert prep.main(args) == 0 and "nothing to do" in capsys.readouterr().out
    assert prep.main([*args, "--tile", "64", "--test", "OSBS_029,SOAP_061", "--othersites", "", "--force"]) == 0
    printed = capsys.readouterr().out
    assert "trees_othersites" not in printed.split("train_net.py", 1)[1]
    for split, n in (("train", 4 + 1), ("test", 2), ("othersites", 0)):
        coco = json.load(open(os.path.join(outs[0], f"{split}.json")))
        assert len(coco["images"]) == len(os.listdir(os.path.join(outs[0], split))) == n
