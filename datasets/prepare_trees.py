#!/usr/bin/env python
"""Prepare a real box-detection dataset of tree crowns in airborne RGB imagery, split by scene.

The registry package ``deepforest`` ships four hand-annotated scenes of the NeonTreeEvaluation
benchmark (NEON airborne RGB orthophotos, 0.1 m per pixel) with their crown boxes as Pascal-VOC
XML, in ``deepforest/data/``:

    scene                  image (px)   crowns  site
    YELL_528000_4978000    2299x2472    574     Yellowstone (WY), conifers
    YELL_541000_4977000    1249x1035    279     Yellowstone (WY), conifers, ~13 km away
    OSBS_029               400x400      61      Ordway-Swisher (FL), pines
    SOAP_061               400x400      37      Soaproot Saddle (CA), 28 dead + 9 alive

This script downloads that wheel without its dependencies (nothing is installed: the files are read
from inside the zip), cuts each scene into tiles of at most ``--tile`` px and writes COCO json with
boxes only (no masks exist), one class "tree" (SOAP's "Dead"/"Alive" are both trees):

    <out>/train.json       <out>/train/<scene>_yYYYY_xXXXX.png
    <out>/test.json        <out>/test/...
    <out>/othersites.json  <out>/othersites/...

Splits are by scene, never by tile: train = the large Yellowstone scene, test = the other
Yellowstone scene (a held-out place, same kind of forest), othersites = the Florida and California
scenes (another forest type, another camera day: a domain-shift test). ``--test`` and
``--othersites`` move scenes between splits.

Example (from the repository root):
    python datasets/prepare_trees.py            # writes datasets/trees, prints the train opts
    python datasets/prepare_trees.py --tile 256 --force
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # wheel_tiles beside this script

from wheel_tiles import coco_json, download_wheel, scene_list, tile_grid, write_splits

DEEPFOREST_VERSION = "2.1.0"  # the four scenes have the same sizes in every wheel from 1.0.0 to 2.1.0
DATA = "deepforest/data/"
# scene -> (image, VOC XML) inside the wheel.
SCENES = {
    "YELL_528000_4978000": ("2019_YELL_2_528000_4978000_image_crop2.png", "2019_YELL_2_528000_4978000_image_crop2.xml"),
    "YELL_541000_4977000": ("2019_YELL_2_541000_4977000_image_crop.png", "2019_YELL_2_541000_4977000_image_crop.xml"),
    "OSBS_029": ("OSBS_029.png", "OSBS_029.xml"),  # the XML names OSBS_029.tif: the same pixels
    "SOAP_061": ("SOAP_061.png", "SOAP_061.xml"),
}
DEFAULT_TEST = ("YELL_541000_4977000",)
DEFAULT_OTHERSITES = ("OSBS_029", "SOAP_061")
SOURCE_LABELS = {"Tree", "Dead", "Alive"}
CATEGORIES = [{"id": 1, "name": "tree"}]
SPLITS = ("train", "test", "othersites")
DEMO_CONFIG = "configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml"


@dataclass
class Scene:
    """One annotated image: its pixels (BGR) and its boxes as float [x0, y0, x1, y1] in pixels."""

    name: str
    image: np.ndarray
    boxes: np.ndarray
    labels: Counter


@dataclass
class Tile:
    """One tile of a scene: its top-left corner and size in the scene, and its annotations."""

    scene: str
    y: int
    x: int
    height: int
    width: int
    annotations: list[dict] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return f"{self.scene}_y{self.y:04d}_x{self.x:04d}.png"





def parse_voc_boxes(xml_text: bytes | str) -> tuple[tuple[int, int], np.ndarray, Counter]:
    """(width, height) declared by a VOC XML, its boxes as float [x0, y0, x1, y1] and the count of
    each <name>. VOC integers are read as continuous coordinates, as DeepForest does (a crown on
    the right border of a 400 px image has xmax 400)."""
    root = ET.fromstring(xml_text)
    size = root.find("size")
    wh = (int(size.findtext("width")), int(size.findtext("height")))
    boxes, labels = [], Counter()
    for obj in root.iter("object"):
        name = obj.findtext("name", "").strip()
        if name not in SOURCE_LABELS:
            raise ValueError(f"unexpected object name {name!r} (expected one of {sorted(SOURCE_LABELS)})")
        b = obj.find("bndbox")
        boxes.append([float(b.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
        labels[name] += 1
    return wh, np.asarray(boxes, np.float64).reshape(-1, 4), labels


def read_wheel_scenes(wheel: str) -> list[Scene]:
    """The four scenes, read straight from the wheel (a zip file), boxes clipped to their image."""
    scenes = []
    try:
        with zipfile.ZipFile(wheel) as z:
            for name, (image_file, xml_file) in SCENES.items():
                image = cv2.imdecode(np.frombuffer(z.read(DATA + image_file), np.uint8), cv2.IMREAD_COLOR)
                if image is None:
                    sys.exit(f"{wheel}: cannot decode {DATA + image_file}.")
                (w, h), boxes, labels = parse_voc_boxes(z.read(DATA + xml_file))
                if (h, w) != image.shape[:2]:
                    sys.exit(f"{wheel}: {xml_file} is for a {w}x{h} image, {image_file} is "
                             f"{image.shape[1]}x{image.shape[0]}.")
                boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
                boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
                scenes.append(Scene(name, image, boxes, labels))
    except (zipfile.BadZipFile, KeyError, ET.ParseError, ValueError) as e:
        sys.exit(f"{wheel}: not a deepforest wheel with the expected files in {DATA} ({e}).")
    return scenes


def tile_annotations(boxes: np.ndarray, y: int, x: int, h: int, w: int, min_visible: float,
                     min_size: float) -> list[dict]:
    """The boxes of a scene that fall in one tile, clipped to it, in tile coordinates (XYWH).

    A crown cut by a tile border is kept if at least ``min_visible`` of its box is inside and the
    cut box is at least ``min_size`` px on each side: a sliver is no fair target."""
    anns = []
    for x0, y0, x1, y1 in boxes:
        cx0, cy0, cx1, cy1 = max(x0, x), max(y0, y), min(x1, x + w), min(y1, y + h)
        cw, ch = cx1 - cx0, cy1 - cy0
        full = (x1 - x0) * (y1 - y0)
        if cw < min_size or ch < min_size or full <= 0 or cw * ch < min_visible * full:
            continue
        anns.append({"bbox": [float(cx0 - x), float(cy0 - y), float(cw), float(ch)], "area": float(cw * ch),
                     "category_id": 1, "iscrowd": 0})
    return anns


def assign_splits(test: list[str], othersites: list[str]) -> dict[str, list[str]]:
    """Scene names of each split: the given test and othersites scenes, every other scene in train."""
    unknown = sorted(set(test + othersites) - set(SCENES))
    if unknown:
        raise ValueError(f"unknown scene(s) {unknown}; scenes are {list(SCENES)}")
    if set(test) & set(othersites):
        raise ValueError(f"scene(s) {sorted(set(test) & set(othersites))} in both test and othersites")
    train = [s for s in SCENES if s not in test and s not in othersites]
    if not train or not test:
        raise ValueError("train and test need at least one scene each")
    return {"train": train, "test": [s for s in SCENES if s in test], "othersites": [s for s in SCENES if s in othersites]}


def split_tiles(scenes: list[Scene], split_scenes: dict[str, list[str]], tile: int = 400,
                min_visible: float = 0.4, min_size: float = 4.0) -> dict[str, list[Tile]]:
    """Tile every scene and put all tiles of a scene in that scene's split."""
    if not 0.0 < min_visible <= 1.0:
        raise ValueError(f"min_visible must be in (0, 1], got {min_visible}")
    by_name = {s.name: s for s in scenes}
    out: dict[str, list[Tile]] = {}
    for split in SPLITS:
        out[split] = []
        for name in split_scenes[split]:
            s = by_name[name]
            for y, x, h, w in tile_grid(*s.image.shape[:2], tile):
                out[split].append(Tile(name, y, x, h, w, tile_annotations(s.boxes, y, x, h, w, min_visible, min_size)))
    return out


def to_coco(tiles: list[Tile], description: str) -> dict:
    return coco_json([(t.file_name, t.height, t.width, t.annotations) for t in tiles], description, CATEGORIES)


def write_dataset(scenes: list[Scene], splits: dict[str, list[Tile]], out: str, description: str) -> None:
    """The PNG tiles of each split, cut from their scenes, and each split's json."""
    images = {s.name: s.image for s in scenes}

    def pixels(t: Tile) -> np.ndarray:
        return images[t.scene][t.y:t.y + t.height, t.x:t.x + t.width]

    write_splits(out, {split: splits[split] for split in SPLITS}, pixels, to_coco, description,
                 [f"{scene}_y*_x*.png" for scene in SCENES])


def train_opts(out: str, othersites: bool = True) -> str:
    """The train_net.py options that register the splits (othersites only if it has scenes) and
    train on train, test on test."""
    def p(*parts: str) -> str:
        return os.path.join(out, *parts)

    coco = ",".join(f"['trees_{s}','{p(s + '.json')}','{p(s)}']" for s in SPLITS if othersites or s != "othersites")
    # Boxes only: no mask head. Crowns are 8-108 px in tiles of ~400 px; the demo's 128 px input
    # would shrink the smallest below the smallest anchor, so the tiles are resized to ~256 px;
    # up to ~40 crowns a tile, so COCO AP's 100 detections rather than the demo's 50.
    return (f'SCRATCHDET.DATA.COCO "[{coco}]" DATASETS.TRAIN "(\'trees_train\',)" '
            f'DATASETS.TEST "(\'trees_test\',)" MODEL.ROI_HEADS.NUM_CLASSES 1 MODEL.MASK_ON False '
            f'INPUT.MIN_SIZE_TRAIN "(224, 256, 288)" INPUT.MAX_SIZE_TRAIN 400 '
            f'INPUT.MIN_SIZE_TEST 256 INPUT.MAX_SIZE_TEST 400 TEST.DETECTIONS_PER_IMAGE 100')


def print_train_command(out: str, othersites: bool = True) -> None:
    also = "; trees_othersites is registered too, for --eval-only DATASETS.TEST \"('trees_othersites',)\"" if othersites else ""
    print(f"Train on it with (paths relative to the current directory{also}):\n"
          f"  python train_net.py --config-file {DEMO_CONFIG} {train_opts(out, othersites)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join("datasets", "trees"),
                        help="output folder (default: datasets/trees, relative to the current directory)")
    parser.add_argument("--wheel", help="a deepforest wheel already downloaded (default: download it)")
    parser.add_argument("--tile", type=int, default=400,
                        help="largest tile side in px; each scene is cut into equal tiles no larger (default: 400)")
    parser.add_argument("--min-visible", type=float, default=0.4,
                        help="keep a crown cut by a tile border if this share of its box is in the tile (default: 0.4)")
    parser.add_argument("--min-size", type=float, default=4.0,
                        help="drop cut boxes narrower or shorter than this many px (default: 4)")
    parser.add_argument("--test", type=scene_list, default=list(DEFAULT_TEST),
                        help=f"comma-separated scenes of the test split (default: {','.join(DEFAULT_TEST)})")
    parser.add_argument("--othersites", type=scene_list, default=list(DEFAULT_OTHERSITES),
                        help=f"comma-separated scenes of the othersites split, may be empty "
                             f"(default: {','.join(DEFAULT_OTHERSITES)}); all other scenes are train")
    parser.add_argument("--force", action="store_true", help="rebuild even if the json files exist")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = os.path.normpath(args.out)
    try:
        split_scenes = assign_splits(args.test, args.othersites)
    except ValueError as e:
        sys.exit(f"Bad split: {e}.")
    if not args.force and all(os.path.isfile(os.path.join(out, f"{s}.json")) for s in SPLITS):
        print(f"{out}/{{train,test,othersites}}.json exist: nothing to do (use --force to rebuild).")
        print_train_command(out, bool(split_scenes["othersites"]))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel("deepforest", DEEPFOREST_VERSION, tmp)
        scenes = read_wheel_scenes(wheel)
    for s in scenes:
        sides = np.concatenate([s.boxes[:, 2] - s.boxes[:, 0], s.boxes[:, 3] - s.boxes[:, 1]])
        size = (f"box side {sides.min():.0f}-{sides.max():.0f} px (median {np.median(sides):.0f})" if len(sides)
                else "no boxes")
        print(f"Read {s.name}: {s.image.shape[1]}x{s.image.shape[0]}, {len(s.boxes)} boxes ({dict(s.labels)}), {size}")

    try:
        splits = split_tiles(scenes, split_scenes, args.tile, args.min_visible, args.min_size)
    except ValueError as e:
        sys.exit(f"Cannot tile: {e}.")
    write_dataset(scenes, splits, out, f"deepforest {DEEPFOREST_VERSION} NeonTreeEvaluation crowns, tile {args.tile}")

    for split in SPLITS:
        tiles = splits[split]
        n = sum(len(t.annotations) for t in tiles)
        sizes = sorted({f"{t.width}x{t.height}" for t in tiles})
        print(f"Wrote {out}/{split}.json: {len(tiles)} tiles ({', '.join(sizes) or 'none'}) of "
              f"{', '.join(split_scenes[split]) or 'no scene'}, {n} boxes (images in {out}/{split}/)")
    print_train_command(out, bool(split_scenes["othersites"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
