"""datasets/prepare_pedestrians.py on a synthetic MOTChallenge gt.txt and tiny frames (no download):
gt parsing, classes and ignore regions, scaling, box cutting, the split by scene and a whole run
from a fake sdist."""

import importlib.util
import io
import json
import os
import sys
import tarfile
import zipfile

import cv2
import numpy as np
import pytest

from scratchdet.data.datasets import read_coco_json
from tests.conftest import REPO

spec = importlib.util.spec_from_file_location("prepare_pedestrians", os.path.join(REPO, "datasets", "prepare_pedestrians.py"))
prep = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = prep  # dataclasses look their module up there
spec.loader.exec_module(prep)

ANN_KEYS = {"bbox", "area", "category_id", "iscrowd"}
W, H = 64, 36  # the synthetic frames (the real ones are 1920x1080)

# frame,id,x,y,w,h,consider,class,visibility; x, y 1-based.
GT = """\
1,1,11,6,10,20,1,1,1.0
1,2,31,1,8,16,1,1,0.2
1,3,41,11,6,12,0,1,1.0
1,4,1,1,5,5,0,7,1.0
1,5,50,20,10,10,0,3,1.0
1,6,-4,21,10,20,1,1,0.9
1,7,70,5,10,10,1,1,1.0
1,8,20,20,5,5,0,13,1.0
1,9,21,21,4,4,0,8,0.5
1,10,26,21,4,4,0,12,1.0
1,11,56,1,6,9,0,2,0.7
2,1,12,6,10,20,1,1,1.0

2.000000,12.000000,33.000000,3.000000,6.000000,14.000000,1.000000,1.000000,0.250000
3,1,13,6,10,20,1,1,1.0
9,1,13,6,10,20,1,1,1.0
"""


def test_parse_gt():
    rows = prep.parse_gt(GT.encode())  # bytes, as read from the archive
    assert rows.shape == (15, 9) and rows.dtype == np.float64
    assert rows[0].tolist() == [1, 1, 11, 6, 10, 20, 1, 1, 1.0]
    assert rows[12].tolist() == [2, 12, 33, 3, 6, 14, 1, 1, 0.25]  # integers written as floats
    assert prep.parse_gt("").shape == (0, 9)
    with pytest.raises(ValueError, match="line 2 has 6 fields"):
        prep.parse_gt("1,1,1,1,1,1,1,1,1\n1,2,3,4,5,6\n")
    with pytest.raises(ValueError, match="line 1 is not numbers"):
        prep.parse_gt("1,1,a,1,1,1,1,1,1\n")


def test_parse_seqinfo():
    ini = "[Sequence]\nname=MOT17-02-FRCNN\nimDir=img1\nframeRate=30\nseqLength=600\nimWidth=1920\nimHeight=1080\nimExt=.jpg\n"
    assert prep.parse_seqinfo(ini.encode()) == ("img1", ".jpg", 1920, 1080)


def test_frame_boxes_classes_coordinates_and_clipping():
    rows = prep.parse_gt(GT)
    boxes, crowd, counts = prep.frame_boxes(rows, 1, W, H, 0.25)
    assert boxes.tolist() == [
        [10, 5, 20, 25],  # pedestrian: 1-based top-left moved to 0-based, continuous
        [30, 0, 38, 16],  # pedestrian less visible than 0.25: ignore region
        [40, 10, 46, 22],  # pedestrian with consider 0: ignore region
        [0, 0, 5, 5],  # static person: ignore region
        [0, 20, 5, 36],  # pedestrian beyond the left and bottom borders: clipped to the image
        [20, 20, 24, 24],  # distractor
        [25, 20, 29, 24],  # reflection
        [55, 0, 61, 9],  # person on vehicle
    ]
    assert crowd.tolist() == [False, True, True, True, False, True, True, True]
    assert counts == {"pedestrian": 2, "ignore": 6, "dropped": 2, "outside": 1}  # car, crowd class 13; id 7
    # A lower threshold makes the less visible pedestrian a target; frame 2 has a float-written row
    # at exactly 0.25 visibility: kept.
    assert prep.frame_boxes(rows, 1, W, H, 0.1)[1].tolist()[:2] == [False, False]
    boxes2, crowd2, _ = prep.frame_boxes(rows, 2, W, H, 0.25)
    assert boxes2.tolist() == [[11, 5, 21, 25], [32, 2, 38, 16]] and not crowd2.any()
    empty, none, _ = prep.frame_boxes(rows, 5, W, H, 0.25)
    assert empty.shape == (0, 4) and none.shape == (0,)


def test_scale_frame():
    image = np.random.default_rng(0).integers(0, 256, (H, W, 3), np.uint8)
    boxes = np.array([[10, 5, 20, 25], [0, 20, 5, 36]], np.float64)
    half, hb = prep.scale_frame(image, boxes, 0.5)
    assert half.shape == (18, 32, 3) and hb.tolist() == [[5, 2.5, 10, 12.5], [0, 10, 2.5, 18]]
    same, sb = prep.scale_frame(image, boxes, 1.0)
    assert same is image and sb.tolist() == boxes.tolist()
    odd, ob = prep.scale_frame(image, boxes, 0.3)  # 19.2 x 10.8 px: rounded, boxes by the exact factors
    assert odd.shape == (11, 19, 3)
    assert ob == pytest.approx(boxes * [19 / 64, 11 / 36, 19 / 64, 11 / 36])
    with pytest.raises(ValueError):
        prep.scale_frame(image, boxes, 0.0)


def ann(a):
    assert set(a) == ANN_KEYS
    assert a["category_id"] == prep.CATEGORIES[0]["id"] == 1 and a["iscrowd"] in (0, 1)
    assert all(isinstance(v, float) for v in a["bbox"]) and isinstance(a["area"], float)
    x, y, w, h = a["bbox"]
    assert a["area"] == w * h
    return [*a["bbox"], a["iscrowd"]]


def test_tile_annotations_keep_clip_ignore_and_drop():
    # The tile covers x in [20, 60], y in [10, 40] (continuous coordinates).
    y, x, h, w = 10, 20, 30, 40

    def cut(box, is_crowd=False, fraction=0.5):
        return [ann(a) for a in prep.tile_annotations(np.array([box], np.float64), np.array([is_crowd]),
                                                      y, x, h, w, fraction)]

    assert cut([25, 15, 35, 27]) == [[5, 5, 10, 12, 0]]  # inside: moved to tile coordinates
    assert cut([20, 10, 60, 40]) == [[0, 0, 40, 30, 0]]  # exactly the tile
    # Cut by the right border, half inside: a target at a share of 0.5 (at least), clipped to the border;
    # under the share its part in the tile is an ignore region, not dropped.
    assert cut([50, 20, 70, 30], fraction=0.5) == [[30, 10, 10, 10, 0]]
    assert cut([50, 20, 70, 30], fraction=0.51) == [[30, 10, 10, 10, 1]]
    assert cut([52, 20, 72, 30]) == [[32, 10, 8, 10, 1]]  # 40 % inside
    # An ignore region is kept, clipped, wherever it overlaps (a quarter of it here).
    assert cut([10, 0, 30, 20], is_crowd=True) == [[0, 0, 10, 10, 1]]
    assert cut([25, 15, 35, 27], is_crowd=True) == [[5, 5, 10, 12, 1]]
    # Slivers thinner than MIN_PART of ignore regions (or of pedestrians made ignore regions) are left out.
    assert cut([10, 10, 20.5, 40], is_crowd=True) == []
    assert cut([10, 10, 20.5, 40]) == []
    assert cut([10, 10, 21.5, 40], is_crowd=True) == [[0, 0, 1.5, 30, 1]]
    assert cut([0, 0, 10, 10], is_crowd=True) == []  # outside
    assert cut([10, 10, 20, 40]) == []  # touches the left border only: nothing inside
    # Fractional coordinates (scaled frames) stay fractional.
    assert cut([19.5, 10.25, 30.5, 20.25]) == [[0, 0.25, 10.5, 10, 0]]


def random_boxes(rng, height, width, n):
    x0 = rng.integers(0, width - 2, n)
    y0 = rng.integers(0, height - 2, n)
    x1 = np.minimum(x0 + rng.integers(2, 30, n), width)
    y1 = np.minimum(y0 + rng.integers(2, 30, n), height)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.float64)


@pytest.mark.parametrize("fraction", [1e-9, 0.5, 1.0])
def test_tile_annotations_over_a_grid_keep_every_box_area(fraction):
    """Whole-pixel boxes over a whole-pixel grid: the parts of each box in the tiles (targets and
    ignore regions together) add up to the box, none lost and none counted twice; with a share of
    1 the targets are exactly the boxes entirely inside one tile."""
    rng = np.random.default_rng(0)
    height, width, tile = 90, 130, 32
    boxes = random_boxes(rng, height, width, 60)
    crowd = rng.random(60) < 0.2
    grid = prep.tile_grid(height, width, tile)
    parts = {(y, x): prep.tile_annotations(boxes, crowd, y, x, h, w, fraction) for y, x, h, w in grid}
    full = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    assert sum(a["area"] for anns in parts.values() for a in anns) == pytest.approx(full.sum(), abs=1e-9)
    for y, x, h, w in grid:
        for bx, by, bw, bh, _ in map(ann, parts[y, x]):
            assert bx >= 0 and by >= 0 and bx + bw <= w and by + bh <= h
    n_crowd_parts = sum(a["iscrowd"] for anns in parts.values() for a in anns)
    assert n_crowd_parts >= crowd.sum()
    if fraction == 1.0:
        for y, x, h, w in grid:
            inside = (boxes[:, 0] >= x) & (boxes[:, 1] >= y) & (boxes[:, 2] <= x + w) & (boxes[:, 3] <= y + h)
            targets = [a["bbox"] for a in parts[y, x] if not a["iscrowd"]]
            assert sorted(targets) == sorted([b[0] - x, b[1] - y, b[2] - b[0], b[3] - b[1]]
                                             for b in boxes[inside & ~crowd].tolist())


def test_assign_splits():
    assert prep.assign_splits(list(prep.DEFAULT_TRAIN), list(prep.DEFAULT_TEST)) == {
        "train": ["MOT17-04"], "test": ["MOT17-02"]}
    assert prep.assign_splits(["MOT17-02"], ["MOT17-04"]) == {"train": ["MOT17-02"], "test": ["MOT17-04"]}
    for train, test in [(["MOT17-09"], ["MOT17-02"]),  # unknown scene
                        (["MOT17-02"], ["MOT17-02"]),  # in both splits
                        ([], ["MOT17-02"]), (["MOT17-04"], [])]:  # an empty split
        with pytest.raises(ValueError):
            prep.assign_splits(train, test)


def seqinfo(seq: str, width: int = W, height: int = H) -> str:
    return (f"[Sequence]\nname={seq}\nimDir=img1\nframeRate=30\nseqLength=600\nimWidth={width}\n"
            f"imHeight={height}\nimExt=.jpg\n")


N_FRAMES = {"MOT17-04": 3, "MOT17-02": 2}


def frame_image(scene: str, frame: int) -> np.ndarray:
    """A smooth, distinct picture per frame (JPEG keeps it close; the test compares decoded pixels only)."""
    yy, xx = np.mgrid[0:H, 0:W]
    base = 40 * frame + (100 if scene == "MOT17-02" else 0)
    return np.stack([(xx * 3 + base) % 256, (yy * 5 + base) % 256, (xx + yy + base) % 256], axis=2).astype(np.uint8)


def fake_sdist(path, skip=(), replace=None) -> str:
    """A .tar.gz laid out like boxmot's sdist: for each sequence seqinfo.ini, gt/gt.txt and
    img1/NNNNNN.jpg, plus files the script must pass over. ``skip``: member paths (relative to
    the sequence folder, as "SEQ/rel") left out; ``replace``: {"SEQ/rel": bytes}."""
    replace = replace or {}
    with tarfile.open(path, "w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("boxmot-19.0.0/PKG-INFO", b"Metadata-Version: 2.1\nName: boxmot\nVersion: 19.0.0\n")
        add("boxmot-19.0.0/boxmot/__init__.py", b"")
        for scene, seq in prep.SCENES.items():
            files = {"seqinfo.ini": seqinfo(seq).encode(), "gt/gt.txt": GT.encode(),
                     # a stray copy outside imDir, as in some boxmot versions: not a frame
                     f"{seq}/000002.jpg": cv2.imencode(".jpg", np.zeros((H, W, 3), np.uint8))[1].tobytes()}
            for f in range(1, N_FRAMES[scene] + 1):
                files[f"img1/{f:06d}.jpg"] = cv2.imencode(".jpg", frame_image(scene, f))[1].tobytes()
            for rel, data in files.items():
                key = f"{seq}/{rel}"
                if key not in skip:
                    add(f"boxmot-19.0.0/{prep.MOT_ROOT}{key}", replace.get(key, data))
    return str(path)


def test_read_sdist_scenes(tmp_path):
    sdist = fake_sdist(tmp_path / "boxmot-19.0.0.tar.gz")
    scenes = prep.read_sdist_scenes(sdist, 0.5, 0.25)
    assert [s.name for s in scenes] == list(prep.SCENES)
    rows = prep.parse_gt(GT)
    for s in scenes:
        assert s.size == (W, H)
        assert [f.frame for f in s.frames] == list(range(1, N_FRAMES[s.name] + 1))  # gt's frames 3 and 9: no image
        for f in s.frames:
            assert f.image.shape == (H // 2, W // 2, 3)
            boxes, crowd, _ = prep.frame_boxes(rows, f.frame, W, H, 0.25)
            assert f.boxes.tolist() == (boxes / 2).tolist() and f.crowd.tolist() == crowd.tolist()
            jpeg = cv2.imdecode(cv2.imencode(".jpg", frame_image(s.name, f.frame))[1], cv2.IMREAD_COLOR)
            assert np.array_equal(f.image, prep.scale_frame(jpeg, boxes, 0.5)[0])
    mot04 = scenes[0]
    assert mot04.counts == {"pedestrian": 2 + 2 + 1, "ignore": 6, "dropped": 2, "outside": 1}  # frames 1, 2, 3


def test_read_sdist_scenes_refuses_bad_input(tmp_path):
    missing = fake_sdist(tmp_path / "a.tar.gz", skip={"MOT17-02-FRCNN/gt/gt.txt"})
    with pytest.raises(SystemExit, match=r"MOT17-02-FRCNN \(no assets/MOT17-mini/train/MOT17-02-FRCNN/gt/gt.txt\)"):
        prep.read_sdist_scenes(missing, 0.5, 0.25)
    no_frames = fake_sdist(tmp_path / "b.tar.gz", skip={"MOT17-04-FRCNN/img1/000001.jpg", "MOT17-04-FRCNN/img1/000002.jpg",
                                                        "MOT17-04-FRCNN/img1/000003.jpg"})
    with pytest.raises(SystemExit, match="no frames"):
        prep.read_sdist_scenes(no_frames, 0.5, 0.25)
    wrong_size = fake_sdist(tmp_path / "c.tar.gz", replace={"MOT17-04-FRCNN/seqinfo.ini": seqinfo("x", 1920, 1080).encode()})
    with pytest.raises(SystemExit, match="is 64x36, seqinfo.ini says 1920x1080"):
        prep.read_sdist_scenes(wrong_size, 0.5, 0.25)
    bad_gt = fake_sdist(tmp_path / "d.tar.gz", replace={"MOT17-02-FRCNN/gt/gt.txt": b"1,2,3\n"})
    with pytest.raises(SystemExit, match="line 1 has 3 fields"):
        prep.read_sdist_scenes(bad_gt, 0.5, 0.25)
    (tmp_path / "not.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(SystemExit, match="not a readable boxmot sdist"):
        prep.read_sdist_scenes(str(tmp_path / "not.tar.gz"), 0.5, 0.25)
    with zipfile.ZipFile(tmp_path / "boxmot.whl", "w") as z:  # a wheel instead of the sdist
        z.writestr("boxmot/__init__.py", "")
    with pytest.raises(SystemExit, match="not a readable boxmot sdist"):
        prep.read_sdist_scenes(str(tmp_path / "boxmot.whl"), 0.5, 0.25)


def test_to_coco_ids_and_fields():
    boxes, crowd = np.array([[1, 2, 5, 9], [3, 3, 8, 8]], float), np.array([False, True])
    tiles = [prep.Tile("MOT17-02", 1, 0, 0, 20, 16, prep.tile_annotations(boxes, crowd, 0, 0, 20, 16, 0.5)),
             prep.Tile("MOT17-02", 1, 0, 16, 20, 14, []),
             prep.Tile("MOT17-04", 12, 20, 0, 10, 16,
                       prep.tile_annotations(np.array([[0, 20, 4, 30]], float), np.array([False]), 20, 0, 10, 16, 0.5))]
    coco = prep.to_coco(tiles, "synthetic")
    assert coco["info"] == {"description": "synthetic"} and coco["categories"] == [{"id": 1, "name": "pedestrian"}]
    assert coco["images"] == [
        {"id": 1, "file_name": "MOT17-02_f000001_y0000_x0000.png", "height": 20, "width": 16},
        {"id": 2, "file_name": "MOT17-02_f000001_y0000_x0016.png", "height": 20, "width": 14},
        {"id": 3, "file_name": "MOT17-04_f000012_y0020_x0000.png", "height": 10, "width": 16}]
    assert [(a["id"], a["image_id"], a["bbox"], a["area"], a["iscrowd"]) for a in coco["annotations"]] == [
        (1, 1, [1.0, 2.0, 4.0, 7.0], 28.0, 0), (2, 1, [3.0, 3.0, 5.0, 5.0], 25.0, 1),
        (3, 3, [0.0, 0.0, 4.0, 10.0], 40.0, 0)]


def test_main_writes_coco_deterministically(tmp_path, capsys):
    sdist = fake_sdist(tmp_path / "boxmot-19.0.0.tar.gz")
    outs = [str(tmp_path / "a"), str(tmp_path / "b")]
    for out in outs:
        assert prep.main(["--sdist", sdist, "--out", out, "--tile", "16"]) == 0
    printed = capsys.readouterr().out
    assert (f"SCRATCHDET.DATA.COCO \"[['pedestrians_train','{outs[1]}/train.json','{outs[1]}/train'],"
            f"['pedestrians_test','{outs[1]}/test.json','{outs[1]}/test']]\"") in printed
    assert "DATASETS.TRAIN \"('pedestrians_train',)\" DATASETS.TEST \"('pedestrians_test',)\"" in printed
    assert "MODEL.ROI_HEADS.NUM_CLASSES 1 MODEL.MASK_ON False" in printed
    assert "Read MOT17-04 (MOT17-04-FRCNN): 3 frames (1-3) of 64x36, scaled to 32x18" in printed
    scenes = {s.name: s for s in prep.read_sdist_scenes(sdist, 0.5, 0.25)}
    frames = {(s.name, f.frame): f for s in scenes.values() for f in s.frames}
    expected_scene = {"train": "MOT17-04", "test": "MOT17-02"}
    n_crowd = 0
    for split in prep.SPLITS:
        raw = [open(os.path.join(out, f"{split}.json"), "rb").read() for out in outs]
        assert raw[0] == raw[1]  # two runs, the same json byte for byte
        assert sorted(os.listdir(os.path.join(outs[0], split))) == sorted(os.listdir(os.path.join(outs[1], split)))
        coco = read_coco_json(os.path.join(outs[0], f"{split}.json"))  # the project's own COCO checks
        assert coco["categories"] == [{"id": 1, "name": "pedestrian"}]
        assert {im["file_name"].split("_f")[0] for im in coco["images"]} == {expected_scene[split]}
        assert sorted(im["file_name"] for im in coco["images"]) == sorted(os.listdir(os.path.join(outs[0], split)))
        per_image = {im["id"]: [] for im in coco["images"]}
        for a in coco["annotations"]:
            per_image[a["image_id"]].append({k: a[k] for k in ANN_KEYS})
            n_crowd += a["iscrowd"]
        for im in coco["images"]:
            scene, rest = im["file_name"][:-len(".png")].split("_f")
            frame, yx = rest.split("_y")
            y, x = (int(v) for v in yx.split("_x"))
            f = frames[scene, int(frame)]
            png = cv2.imread(os.path.join(outs[0], split, im["file_name"]), cv2.IMREAD_UNCHANGED)
            assert np.array_equal(png, f.image[y:y + im["height"], x:x + im["width"]])  # the tile's pixels
            assert per_image[im["id"]] == prep.tile_annotations(f.boxes, f.crowd, y, x, im["height"], im["width"], 0.5)
    assert n_crowd > 0  # ignore regions are written, as iscrowd 1
    # 32x18 frames in tiles of at most 16 px: 2 x 2 tiles of 16x9; 3 frames in train, 2 in test.
    n_tiles = {split: len(json.load(open(os.path.join(outs[0], f"{split}.json")))["images"]) for split in prep.SPLITS}
    assert n_tiles == {"train": 12, "test": 8}

    # A second run does nothing; --force with another tile and the scenes swapped replaces the tiles of the first.
    args = ["--sdist", sdist, "--out", outs[0]]
    assert prep.main(args) == 0 and "nothing to do" in capsys.readouterr().out
    assert prep.main([*args, "--tile", "64", "--train", "MOT17-02", "--test", "MOT17-04", "--force"]) == 0
    for split, scene, n in (("train", "MOT17-02", 2), ("test", "MOT17-04", 3)):
        coco = json.load(open(os.path.join(outs[0], f"{split}.json")))
        assert len(coco["images"]) == len(os.listdir(os.path.join(outs[0], split))) == n
        assert all(im["file_name"].startswith(scene + "_f") and (im["width"], im["height"]) == (32, 18)
                   for im in coco["images"])
    with pytest.raises(SystemExit, match="Bad split"):
        prep.main([*args, "--train", "MOT17-02", "--test", "MOT17-02"])
    with pytest.raises(SystemExit, match="--scale must be positive"):
        prep.main([*args, "--scale", "0", "--force"])
