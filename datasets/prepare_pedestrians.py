#!/usr/bin/env python
"""Prepare a real, human-annotated box-detection dataset of pedestrians in street video, split by scene.

The source distribution of the registry package ``boxmot`` (``boxmot-19.0.0.tar.gz``, ~9.5 MB; its
wheel lacks the assets) ships the first frames of two MOTChallenge MOT17 training sequences with
their ground truth (MOTChallenge ``gt/gt.txt``, annotated by hand), under
``boxmot-19.0.0/assets/MOT17-mini/train/``:

    scene     sequence         frames  image (px)  camera
    MOT17-04  MOT17-04-FRCNN   1-8     1920x1080   static, elevated, over a pedestrian street at night
    MOT17-02  MOT17-02-FRCNN   1-4     1920x1080   static, lower (medium height), a large square by day

This script downloads that sdist without its dependencies (nothing is installed: the files are read
from inside the .tar.gz, nothing is extracted), turns each frame's ground truth into boxes, scales
the frames by ``--scale``, cuts them into tiles of at most ``--tile`` px and writes COCO json with
boxes only, one class "pedestrian":

    <out>/train.json  <out>/train/<scene>_f<FFFFFF>_y<YYYY>_x<XXXX>.png
    <out>/test.json   <out>/test/...

Ground truth. gt.txt lines are ``frame,id,x,y,w,h,consider,class,visibility`` (x, y: the 1-based
top-left pixel; visibility: the share of the person not occluded). gt.txt may cover more frames
than the sdist has images: only the frames with an image are used. Boxes are moved to continuous
0-based coordinates and clipped to the image (MOT boxes can extend outside it).

- class 1 (pedestrian) with consider 1 and visibility >= ``--min-visibility`` (default 0.25):
  a "pedestrian" box (category 1, ``iscrowd`` 0);
- classes 2 (person on vehicle), 7 (static person), 8 (distractor), 12 (reflection), and class-1
  boxes with consider 0 or a lower visibility: ignore regions, written as COCO annotations with
  ``iscrowd`` 1. detectron2 drops crowd annotations in training (their pixels count as background
  there) and COCO evaluation ignores the detections that fall on them (no false positive, no miss);
- every other class (3-6 vehicles, 9-11 occluders, 13 crowd) is dropped.

Tiles. Each frame is first scaled by ``--scale`` (default 0.5: 960x540; boxes scaled with it; the
frames are large for a CPU detector), then cut into the fewest nearly equal tiles of at most
``--tile`` px (default 540: two tiles of 480x540 a frame; no pixel left out, none in two tiles).
A pedestrian cut by a tile border is kept in a tile, clipped to it, when at least
``--min-box-fraction`` (default 0.5) of its box is inside; a smaller part of it is made an ignore
region (so that detecting that visible half is no false positive) rather than dropped. An ignore
region is kept, clipped, in every tile it overlaps. At the default scale the pedestrian boxes
(clipped to the frame) have a median of about 28x88 px (w x h) in MOT17-04 and 20x56 px in MOT17-02
(from gt.txt of the first frames; the script prints the medians it measures).

Splits are by scene, never by tile or frame: train = MOT17-04, test = MOT17-02 (another place,
another camera height, day instead of night). ``--train`` and ``--test`` (comma-separated scene
names) swap them.

Caveat: consecutive frames at 30 fps are near-duplicates: ~64 distinct people over the 12 frames.
From gt.txt, MOT17-04 has ~42 class-1 boxes a frame (336 over 8 frames, ~290 at the default
visibility threshold), MOT17-02 ~22 a frame (88 over 4 frames, 64 at the default threshold): the
test set is small and its AP moves by a few points per detection. Read it as a sanity check of a
real task, not as a benchmark.

Licence: the MOT17 frames and ground truth are MOTChallenge's, under CC BY-NC-SA 3.0 (attribution,
non-commercial, share-alike; cite Milan et al. 2016, "MOT16: A Benchmark for Multi-Object Tracking",
arXiv:1603.00831); the tiles and json written here inherit those terms. boxmot's own code is
AGPL-3.0 and is not used (only its data files are read).

Example (from the repository root):
    python datasets/prepare_pedestrians.py            # writes datasets/pedestrians, prints the train opts
    python datasets/prepare_pedestrians.py --train MOT17-02 --test MOT17-04 --force
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import sys
import tarfile
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # wheel_tiles beside this script

from wheel_tiles import coco_json, download_sdist, read_tar_members, scene_list, tile_grid, write_splits

BOXMOT_VERSION = "19.0.0"
MOT_ROOT = "assets/MOT17-mini/train/"  # inside the sdist's top folder, boxmot-19.0.0/
# scene -> MOT17 sequence folder (the FRCNN copy: the same frames and ground truth as DPM and SDP).
SCENES = {"MOT17-04": "MOT17-04-FRCNN", "MOT17-02": "MOT17-02-FRCNN"}
DEFAULT_TRAIN = ("MOT17-04",)
DEFAULT_TEST = ("MOT17-02",)
PEDESTRIAN = 1
IGNORE_CLASSES = {2, 7, 8, 12}  # person on vehicle, static person, distractor, reflection
MIN_PART = 1.0  # px: parts of ignore regions thinner than this in a tile are left out
CATEGORIES = [{"id": 1, "name": "pedestrian"}]
SPLITS = ("train", "test")
DEMO_CONFIG = "configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml"
# <top folder>/assets/MOT17-mini/train/<sequence>/<path in the sequence>
MEMBER = re.compile(r"^(?:[^/]+/)?" + re.escape(MOT_ROOT) + r"([^/]+)/(.+)$")


@dataclass
class Frame:
    """One frame of a scene, scaled: its pixels (BGR), its boxes as float [x0, y0, x1, y1] in
    pixels and, for each box, whether it is an ignore region."""

    scene: str
    frame: int
    image: np.ndarray
    boxes: np.ndarray
    crowd: np.ndarray


@dataclass
class Scene:
    """The frames of one sequence, its original frame size (w, h) and what its ground truth gave."""

    name: str
    size: tuple[int, int]
    frames: list[Frame]
    counts: Counter


@dataclass
class Tile:
    """One tile of a frame: its top-left corner and size in the scaled frame, and its annotations."""

    scene: str
    frame: int
    y: int
    x: int
    height: int
    width: int
    annotations: list[dict] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return f"{self.scene}_f{self.frame:06d}_y{self.y:04d}_x{self.x:04d}.png"


def parse_seqinfo(text: bytes | str) -> tuple[str, str, int, int]:
    """(image folder, image extension, width, height) of a MOTChallenge seqinfo.ini."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    ini = configparser.ConfigParser()
    ini.read_string(text)
    seq = ini["Sequence"]
    return seq.get("imDir", "img1"), seq.get("imExt", ".jpg"), int(seq["imWidth"]), int(seq["imHeight"])


def parse_gt(text: bytes | str) -> np.ndarray:
    """The rows of a MOTChallenge ground-truth file as an (N, 9) float array: frame, id, x, y, w,
    h, consider, class, visibility (integers may be written as floats, "1.000000")."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        fields = line.split(",")
        if len(fields) < 9:
            raise ValueError(f"gt.txt line {n} has {len(fields)} fields, expected 9 "
                             "(frame,id,x,y,w,h,consider,class,visibility)")
        try:
            rows.append([float(v) for v in fields[:9]])
        except ValueError:
            raise ValueError(f"gt.txt line {n} is not numbers: {line[:80]!r}") from None
    return np.asarray(rows, np.float64).reshape(-1, 9)


def frame_boxes(rows: np.ndarray, frame: int, width: int, height: int,
                min_visibility: float) -> tuple[np.ndarray, np.ndarray, Counter]:
    """The boxes of one frame, as float [x0, y0, x1, y1] in continuous 0-based pixel coordinates
    clipped to the ``width`` x ``height`` image, whether each is an ignore region, and the count of
    pedestrian boxes, ignore regions, boxes of dropped classes and boxes outside the image."""
    boxes, crowd, counts = [], [], Counter()
    for _frame, _track, x, y, w, h, consider, cls, visibility in rows[rows[:, 0] == frame]:
        if cls == PEDESTRIAN and consider == 1 and visibility >= min_visibility:
            is_crowd = False
        elif cls == PEDESTRIAN or int(cls) in IGNORE_CLASSES:
            is_crowd = True
        else:
            counts["dropped"] += 1
            continue
        x0, y0 = max(x - 1.0, 0.0), max(y - 1.0, 0.0)
        x1, y1 = min(x - 1.0 + w, float(width)), min(y - 1.0 + h, float(height))
        if x1 <= x0 or y1 <= y0:
            counts["outside"] += 1
            continue
        boxes.append([x0, y0, x1, y1])
        crowd.append(is_crowd)
        counts["ignore" if is_crowd else "pedestrian"] += 1
    return np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(crowd, bool), counts


def scale_frame(image: np.ndarray, boxes: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The image resized by ``scale`` (sides rounded to whole pixels; area averaging when it shrinks)
    and its boxes scaled by the same factors."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    h, w = image.shape[:2]
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) != (h, w):
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if nw < w else cv2.INTER_LINEAR)
    return image, boxes * np.array([nw / w, nh / h, nw / w, nh / h])


def load_scene(name: str, files: dict[str, bytes], scale: float, min_visibility: float) -> Scene:
    """One scene from its sequence's files (paths relative to the sequence folder): the frames that
    have an image, with their boxes, scaled. Raises ValueError naming what is missing or wrong."""
    where = f"{MOT_ROOT}{SCENES[name]}/"
    for need in ("seqinfo.ini", "gt/gt.txt"):
        if need not in files:
            raise ValueError(f"no {where}{need}")
    try:
        im_dir, im_ext, width, height = parse_seqinfo(files["seqinfo.ini"])
    except (configparser.Error, KeyError, ValueError) as e:
        raise ValueError(f"{where}seqinfo.ini has no [Sequence] imWidth and imHeight ({e})") from None
    pattern = re.compile(rf"^{re.escape(im_dir)}/(\d+){re.escape(im_ext)}$")
    images = sorted((int(m.group(1)), rel) for rel in files if (m := pattern.match(rel)))
    if not images:
        raise ValueError(f"no frames ({im_dir}/NNNNNN{im_ext}) in {where}")
    rows = parse_gt(files["gt/gt.txt"])
    frames, counts = [], Counter()
    for frame, rel in images:
        image = cv2.imdecode(np.frombuffer(files[rel], np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot decode {where}{rel}")
        if image.shape[:2] != (height, width):
            raise ValueError(f"{where}{rel} is {image.shape[1]}x{image.shape[0]}, seqinfo.ini says {width}x{height}")
        boxes, crowd, c = frame_boxes(rows, frame, width, height, min_visibility)
        image, boxes = scale_frame(image, boxes, scale)
        frames.append(Frame(name, frame, image, boxes, crowd))
        counts += c
    return Scene(name, (width, height), frames, counts)


def read_sdist_scenes(sdist: str, scale: float, min_visibility: float) -> list[Scene]:
    """Both scenes, read straight from the sdist (a .tar.gz, one pass, nothing extracted)."""
    by_sequence = {seq: scene for scene, seq in SCENES.items()}

    def keep(name: str) -> bool:
        m = MEMBER.match(name)
        return bool(m) and m.group(1) in by_sequence

    try:
        members = read_tar_members(sdist, keep)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        sys.exit(f"{sdist}: not a readable boxmot sdist (.tar.gz) ({e}).")
    files: dict[str, dict[str, bytes]] = {scene: {} for scene in SCENES}
    for name, data in members.items():
        m = MEMBER.match(name)
        files[by_sequence[m.group(1)]][m.group(2)] = data
    scenes = []
    for name in SCENES:
        try:
            scenes.append(load_scene(name, files[name], scale, min_visibility))
        except ValueError as e:
            sys.exit(f"{sdist}: not a boxmot sdist with the MOT17-mini sequence {SCENES[name]} ({e}).")
    return scenes


def tile_annotations(boxes: np.ndarray, crowd: np.ndarray, y: int, x: int, h: int, w: int,
                     min_box_fraction: float) -> list[dict]:
    """The boxes of a frame that fall in one tile, clipped to it, in tile coordinates (XYWH).

    A pedestrian is kept if at least ``min_box_fraction`` of its box is inside; the part of one
    under that share becomes an ignore region (``iscrowd`` 1). Ignore regions are kept clipped
    wherever they overlap the tile, unless thinner than ``MIN_PART`` px."""
    anns = []
    for (x0, y0, x1, y1), is_crowd in zip(boxes, crowd):
        cx0, cy0, cx1, cy1 = max(x0, x), max(y0, y), min(x1, x + w), min(y1, y + h)
        cw, ch = cx1 - cx0, cy1 - cy0
        if cw <= 0 or ch <= 0:
            continue
        full = (x1 - x0) * (y1 - y0)
        is_crowd = bool(is_crowd) or cw * ch < min_box_fraction * full
        if is_crowd and (cw < MIN_PART or ch < MIN_PART):
            continue
        anns.append({"bbox": [float(cx0 - x), float(cy0 - y), float(cw), float(ch)], "area": float(cw * ch),
                     "category_id": 1, "iscrowd": int(is_crowd)})
    return anns


def assign_splits(train: list[str], test: list[str]) -> dict[str, list[str]]:
    """Scene names of each split (in SCENES' order), checked: known, disjoint, none empty."""
    unknown = sorted(set(train + test) - set(SCENES))
    if unknown:
        raise ValueError(f"unknown scene(s) {unknown}; scenes are {list(SCENES)}")
    if set(train) & set(test):
        raise ValueError(f"scene(s) {sorted(set(train) & set(test))} in both train and test")
    if not train or not test:
        raise ValueError("train and test need at least one scene each")
    return {"train": [s for s in SCENES if s in train], "test": [s for s in SCENES if s in test]}


def split_tiles(scenes: list[Scene], split_scenes: dict[str, list[str]], tile: int = 540,
                min_box_fraction: float = 0.5) -> dict[str, list[Tile]]:
    """Tile every frame and put all tiles of a scene in that scene's split."""
    if not 0.0 < min_box_fraction <= 1.0:
        raise ValueError(f"min_box_fraction must be in (0, 1], got {min_box_fraction}")
    by_name = {s.name: s for s in scenes}
    out: dict[str, list[Tile]] = {}
    for split in SPLITS:
        out[split] = []
        for name in split_scenes[split]:
            for f in by_name[name].frames:
                for y, x, h, w in tile_grid(*f.image.shape[:2], tile):
                    out[split].append(Tile(name, f.frame, y, x, h, w,
                                           tile_annotations(f.boxes, f.crowd, y, x, h, w, min_box_fraction)))
    return out


def to_coco(tiles: list[Tile], description: str) -> dict:
    return coco_json([(t.file_name, t.height, t.width, t.annotations) for t in tiles], description, CATEGORIES)


def write_dataset(scenes: list[Scene], splits: dict[str, list[Tile]], out: str, description: str) -> None:
    """The PNG tiles of each split, cut from their scaled frames, and each split's json."""
    images = {(f.scene, f.frame): f.image for s in scenes for f in s.frames}

    def pixels(t: Tile) -> np.ndarray:
        return images[t.scene, t.frame][t.y:t.y + t.height, t.x:t.x + t.width]

    write_splits(out, {split: splits[split] for split in SPLITS}, pixels, to_coco, description,
                 [f"{scene}_f*_y*_x*.png" for scene in SCENES])


def train_opts(out: str) -> str:
    """The train_net.py options that register the two splits and train on train, test on test."""
    def p(*parts: str) -> str:
        return os.path.join(out, *parts)

    coco = ",".join(f"['pedestrians_{s}','{p(s + '.json')}','{p(s)}']" for s in SPLITS)
    # Boxes only: no mask head. Tiles of 480x540 resized to ~320x360 keep the smallest pedestrians
    # (~20 px tall at scale 0.5) above the smallest anchor; anchors as tall as people (h/w 1-3, not
    # 0.5-2); up to ~30 people and ignore regions a tile, so COCO AP's 100 detections.
    return (f'SCRATCHDET.DATA.COCO "[{coco}]" DATASETS.TRAIN "(\'pedestrians_train\',)" '
            f'DATASETS.TEST "(\'pedestrians_test\',)" MODEL.ROI_HEADS.NUM_CLASSES 1 MODEL.MASK_ON False '
            f'MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS "[[1.0, 2.0, 3.0]]" '
            f'INPUT.MIN_SIZE_TRAIN "(288, 320, 352)" INPUT.MAX_SIZE_TRAIN 400 '
            f'INPUT.MIN_SIZE_TEST 320 INPUT.MAX_SIZE_TEST 400 TEST.DETECTIONS_PER_IMAGE 100')


def print_train_command(out: str) -> None:
    print("Train on it with (paths relative to the current directory):\n"
          f"  python train_net.py --config-file {DEMO_CONFIG} {train_opts(out)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join("datasets", "pedestrians"),
                        help="output folder (default: datasets/pedestrians, relative to the current directory)")
    parser.add_argument("--sdist", help=f"a boxmot-{BOXMOT_VERSION}.tar.gz already downloaded (default: download it)")
    parser.add_argument("--scale", type=float, default=0.5,
                        help="scale the 1920x1080 frames (and their boxes) by this before tiling (default: 0.5)")
    parser.add_argument("--tile", type=int, default=540,
                        help="largest tile side in px, after scaling; each frame is cut into equal tiles no larger "
                             "(default: 540)")
    parser.add_argument("--min-visibility", type=float, default=0.25,
                        help="pedestrians less visible than this (gt.txt's visibility) are ignore regions (default: 0.25)")
    parser.add_argument("--min-box-fraction", type=float, default=0.5,
                        help="keep a pedestrian cut by a tile border if this share of its box is in the tile, "
                             "else its part there is an ignore region (default: 0.5)")
    parser.add_argument("--train", type=scene_list, default=list(DEFAULT_TRAIN),
                        help=f"comma-separated scenes of the train split (default: {','.join(DEFAULT_TRAIN)})")
    parser.add_argument("--test", type=scene_list, default=list(DEFAULT_TEST),
                        help=f"comma-separated scenes of the test split (default: {','.join(DEFAULT_TEST)})")
    parser.add_argument("--force", action="store_true", help="rebuild even if the json files exist")
    return parser.parse_args(argv)


def box_sizes(boxes: np.ndarray) -> str:
    if not len(boxes):
        return "no pedestrian boxes"
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return (f"pedestrian boxes median {np.median(w):.0f}x{np.median(h):.0f} px (w x h), "
            f"heights {h.min():.0f}-{h.max():.0f}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = os.path.normpath(args.out)
    try:
        split_scenes = assign_splits(args.train, args.test)
    except ValueError as e:
        sys.exit(f"Bad split: {e}.")
    if not args.scale > 0:
        sys.exit(f"--scale must be positive, got {args.scale}.")
    if not 0.0 <= args.min_visibility <= 1.0:
        sys.exit(f"--min-visibility must be in [0, 1], got {args.min_visibility}.")
    if not args.force and all(os.path.isfile(os.path.join(out, f"{s}.json")) for s in SPLITS):
        print(f"{out}/train.json and test.json exist: nothing to do (use --force to rebuild).")
        print_train_command(out)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist or download_sdist("boxmot", BOXMOT_VERSION, tmp)
        scenes = read_sdist_scenes(sdist, args.scale, args.min_visibility)
    for s in scenes:
        frames = [f.frame for f in s.frames]
        h, w = s.frames[0].image.shape[:2]
        pedestrians = np.concatenate([f.boxes[~f.crowd] for f in s.frames])
        print(f"Read {s.name} ({SCENES[s.name]}): {len(frames)} frames ({min(frames)}-{max(frames)}) of "
              f"{s.size[0]}x{s.size[1]}, scaled to {w}x{h}; {s.counts['pedestrian']} pedestrian boxes, "
              f"{s.counts['ignore']} ignore regions, {s.counts['dropped']} boxes of other classes dropped; "
              f"{box_sizes(pedestrians)}")

    try:
        splits = split_tiles(scenes, split_scenes, args.tile, args.min_box_fraction)
    except ValueError as e:
        sys.exit(f"Cannot tile: {e}.")
    write_dataset(scenes, splits, out, f"boxmot {BOXMOT_VERSION} MOT17-mini pedestrians (MOT17 ground truth, "
                                       f"CC BY-NC-SA 3.0), scale {args.scale}, tile {args.tile}")

    for split in SPLITS:
        tiles = splits[split]
        n = sum(1 for t in tiles for a in t.annotations if not a["iscrowd"])
        n_crowd = sum(1 for t in tiles for a in t.annotations if a["iscrowd"])
        sizes = sorted({f"{t.width}x{t.height}" for t in tiles})
        print(f"Wrote {out}/{split}.json: {len(tiles)} tiles ({', '.join(sizes) or 'none'}) of "
              f"{', '.join(split_scenes[split])}, {n} pedestrian boxes and {n_crowd} ignore regions "
              f"(iscrowd 1) (images in {out}/{split}/)")
    print_train_command(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
