#!/usr/bin/env python
"""Prepare a small real instance-segmentation dataset: fluorescence-microscopy nuclei.

The registry package ``stardist`` ships one real 512x512 fluorescence image of nuclei with its
instance labels (``stardist/data/images/img2d.tif`` and ``mask2d.tif``). This script downloads
that wheel without its dependencies (nothing is installed: the two TIFFs are read from inside the
zip), normalises the image to uint8, cuts it into tiles and writes each split as COCO json with
polygon masks, one class "nucleus":

    <out>/train.json  <out>/train/tile_yYYY_xXXX.png
    <out>/val.json    <out>/val/tile_yYYY_xXXX.png

Train and val are split by tile position (val = the last tiles in raster order, i.e. the bottom
of the image), so that the two splits never cover the same pixels.

Example (from the repository root):
    python datasets/prepare_nuclei.py            # writes datasets/nuclei, prints the train opts
    python datasets/prepare_nuclei.py --tile 96 --stride 96 --force
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # wheel_tiles beside this script

from wheel_tiles import coco_json, download_wheel, write_splits

STARDIST_VERSION = "0.9.2"
WHEEL_IMAGE = "stardist/data/images/img2d.tif"
WHEEL_MASK = "stardist/data/images/mask2d.tif"
CATEGORIES = [{"id": 1, "name": "nucleus"}]
SPLITS = ("train", "val")
DEMO_CONFIG = "configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml"


@dataclass
class Tile:
    """One tile: its top-left corner in the full image and its annotations (tile coordinates)."""

    y: int
    x: int
    size: int
    annotations: list[dict] = field(default_factory=list)

    @property
    def file_name(self) -> str:
        return f"tile_y{self.y:04d}_x{self.x:04d}.png"





def read_wheel_images(wheel: str) -> tuple[np.ndarray, np.ndarray]:
    """The fluorescence image and its label image, read straight from the wheel (a zip file)."""
    import tifffile  # only needed here; keeps `--help` and the tiling function free of it

    try:
        with zipfile.ZipFile(wheel) as z:
            image = tifffile.imread(io.BytesIO(z.read(WHEEL_IMAGE)))
            labels = tifffile.imread(io.BytesIO(z.read(WHEEL_MASK)))
    except (zipfile.BadZipFile, KeyError) as e:
        sys.exit(f"{wheel}: not a stardist wheel with {WHEEL_IMAGE} and {WHEEL_MASK} ({e}).")
    if image.shape != labels.shape or image.ndim != 2:
        sys.exit(f"{wheel}: expected a 2D image and a label image of the same size, got "
                 f"{image.shape} and {labels.shape}.")
    return image, labels


def normalize_to_uint8(image: np.ndarray, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """Percentile normalisation (as stardist does): robust to the few very bright pixels of a
    fluorescence image, whatever its dtype (uint16, float)."""
    lo, hi = np.percentile(image.astype(np.float64), [low, high])
    scaled = (image.astype(np.float64) - lo) / max(hi - lo, 1e-12)
    return (np.clip(scaled, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def mask_to_polygons(mask: np.ndarray, upsample: int = 4) -> list[list[float]]:
    """COCO polygons of a binary mask: the outer contour of each connected part (nuclei have no holes).

    A contour through the centres of the boundary pixels would cut half a pixel off all around,
    a lot for a nucleus of a few pixels' radius. Tracing the mask upsampled ``upsample`` times puts
    the polygon within 0.5/upsample px of the pixel edges, so that it draws back the same pixels."""
    big = cv2.resize(mask.astype(np.uint8), None, fx=upsample, fy=upsample, interpolation=cv2.INTER_NEAREST)
    # CHAIN_APPROX_SIMPLE keeps only the corners of the upsampled staircase.
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    # +0.5: contour points are (upsampled) pixel indices; polygon coordinates are continuous.
    return [((c.reshape(-1, 2).astype(np.float64) + 0.5) / upsample).flatten().tolist()
            for c in contours if len(c) >= 3]


def tile_annotations(labels: np.ndarray, min_area: int) -> list[dict]:
    """One annotation per label id present in ``labels`` (a tile of the label image): its mask cut
    to the tile, as polygons, with bbox XYWH and area (pixel count) of the cut mask."""
    anns = []
    for label in np.unique(labels):
        if label == 0:  # background
            continue
        mask = labels == label
        area = int(mask.sum())
        # A sliver of a nucleus cut by the tile border is not a useful (or fair) target.
        if area < min_area:
            continue
        polygons = mask_to_polygons(mask)
        if not polygons:
            continue
        ys, xs = np.nonzero(mask)
        x0, y0 = int(xs.min()), int(ys.min())
        anns.append({"bbox": [float(x0), float(y0), float(xs.max() + 1 - x0), float(ys.max() + 1 - y0)],
                     "area": float(area), "segmentation": polygons, "category_id": 1, "iscrowd": 0,
                     "label": int(label)})
    return anns


def tile_positions(height: int, width: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners of the tiles in raster order; a remainder narrower than a tile is left out."""
    if tile > height or tile > width:
        raise ValueError(f"tile {tile} is larger than the {height}x{width} image")
    return [(y, x) for y in range(0, height - tile + 1, stride) for x in range(0, width - tile + 1, stride)]


def split_tiles(labels: np.ndarray, tile: int = 128, stride: int = 128, min_area: int = 20,
                val_fraction: float = 0.25) -> dict[str, list[Tile]]:
    """Tile a label image and split the tiles into train and val by position: val is the last
    ``val_fraction`` of the tiles in raster order; with overlapping tiles (stride < tile), train
    tiles that overlap a val tile are dropped, so that no pixel is in both splits."""
    if stride <= 0 or tile <= 0:
        raise ValueError("tile and stride must be positive")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    positions = tile_positions(*labels.shape[:2], tile, stride)
    n_val = min(max(1, round(len(positions) * val_fraction)), len(positions) - 1)
    if n_val < 1:
        raise ValueError(f"only {len(positions)} tile(s): use a smaller --tile or --stride to have both splits")
    val_pos = positions[len(positions) - n_val:]

    def overlaps_val(y: int, x: int) -> bool:
        return any(abs(y - vy) < tile and abs(x - vx) < tile for vy, vx in val_pos)

    train_pos = [p for p in positions[: len(positions) - n_val] if not overlaps_val(*p)]
    if not train_pos:
        raise ValueError("no train tile left that does not overlap val: lower --val-fraction or raise --stride")
    return {split: [Tile(y, x, tile, tile_annotations(labels[y:y + tile, x:x + tile], min_area)) for y, x in pos]
            for split, pos in (("train", train_pos), ("val", val_pos))}


def to_coco(tiles: list[Tile], description: str) -> dict:
    # The source label id is not COCO.
    return coco_json([(t.file_name, t.size, t.size, [{k: v for k, v in a.items() if k != "label"} for a in t.annotations])
                      for t in tiles], description, CATEGORIES)


def write_dataset(image_u8: np.ndarray, splits: dict[str, list[Tile]], out: str, description: str) -> None:
    """The PNG tiles (3 channels: detectron2's models and mappers expect a colour image) and each
    split's json."""
    def pixels(t: Tile) -> np.ndarray:
        crop = image_u8[t.y:t.y + t.size, t.x:t.x + t.size]
        return cv2.merge([crop, crop, crop])

    write_splits(out, {split: splits[split] for split in SPLITS}, pixels, to_coco, description, ["tile_y*_x*.png"])


def train_opts(out: str) -> str:
    """The train_net.py options that register and use the two splits."""
    def p(*parts: str) -> str:
        return os.path.join(out, *parts)

    coco = (f"[['nuclei_train','{p('train.json')}','{p('train')}'],"
            f"['nuclei_val','{p('val.json')}','{p('val')}']]")
    return (f'SCRATCHDET.DATA.COCO "{coco}" DATASETS.TRAIN "(\'nuclei_train\',)" '
            f'DATASETS.TEST "(\'nuclei_val\',)" MODEL.ROI_HEADS.NUM_CLASSES 1')


def print_train_command(out: str) -> None:
    # The demo config is sized for CPU and for ~128 px images with objects of ~10-60 px, as here.
    print("Train on it with (paths relative to the current directory):\n"
          f"  python train_net.py --config-file {DEMO_CONFIG} {train_opts(out)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join("datasets", "nuclei"),
                        help="output folder (default: datasets/nuclei, relative to the current directory)")
    parser.add_argument("--wheel", help="a stardist wheel already downloaded (default: download it)")
    parser.add_argument("--tile", type=int, default=128, help="tile size in px (default: 128)")
    parser.add_argument("--stride", type=int, default=128, help="step between tiles in px (default: 128, no overlap)")
    parser.add_argument("--min-area", type=int, default=20,
                        help="drop nucleus fragments (cut by a tile border) smaller than this many px (default: 20)")
    parser.add_argument("--val-fraction", type=float, default=0.25,
                        help="fraction of the tiles, the last in raster order, used for val (default: 0.25)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the json files exist")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = os.path.normpath(args.out)
    if not args.force and all(os.path.isfile(os.path.join(out, f"{s}.json")) for s in SPLITS):
        print(f"{out}/train.json and val.json exist: nothing to do (use --force to rebuild).")
        print_train_command(out)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel("stardist", STARDIST_VERSION, tmp)
        image, labels = read_wheel_images(wheel)
    print(f"Read {WHEEL_IMAGE} {image.shape} {image.dtype} and {WHEEL_MASK} "
          f"({len(np.unique(labels)) - 1} nuclei) from {os.path.basename(wheel)}")

    try:
        splits = split_tiles(labels, args.tile, args.stride, args.min_area, args.val_fraction)
    except ValueError as e:
        sys.exit(f"Cannot tile the {labels.shape[0]}x{labels.shape[1]} image: {e}.")
    write_dataset(normalize_to_uint8(image), splits, out,
                  f"stardist {STARDIST_VERSION} img2d nuclei, tile {args.tile}, stride {args.stride}")

    for split in SPLITS:
        n = sum(len(t.annotations) for t in splits[split])
        print(f"Wrote {out}/{split}.json: {len(splits[split])} tiles of {args.tile}x{args.tile}, "
              f"{n} instances (images in {out}/{split}/)")
    print_train_command(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
