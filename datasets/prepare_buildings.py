#!/usr/bin/env python
"""Prepare a small real instance-segmentation dataset: building footprints in a satellite image.

The registry package ``solaris`` (CosmiQ Works' SpaceNet toolkit) ships one SpaceNet image of
suburban Atlanta, ``solaris/data/sample_geotiff.tif`` (900x900 px, one panchromatic uint16 band,
0.5 m per pixel, UTM zone 16N), with its 43 hand-drawn building footprints as polygons in map
coordinates, ``solaris/data/geotiff_labels.geojson``. This script downloads that wheel without its
dependencies (nothing is installed: the two files are read from inside the zip), maps the polygons
to pixels with the GeoTIFF's own tie point and pixel size (no GDAL needed), normalises the image to
uint8, cuts it into tiles and writes each split as COCO json with polygon masks, one class
"building":

    <out>/train.json  <out>/train/tile_yYYYY_xXXXX.png
    <out>/test.json   <out>/test/tile_yYYYY_xXXXX.png

There is one scene only, so the split is by position: test = the bottom ``--test-fraction`` of
the tile rows, train = the rows above, and the two never cover the same pixels.

Example (from the repository root):
    python datasets/prepare_buildings.py            # writes datasets/buildings, prints the train opts
    python datasets/prepare_buildings.py --tile 180 --force
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # wheel_tiles beside this script

from wheel_tiles import coco_json, download_wheel, write_splits

SOLARIS_VERSION = "0.4.0"
WHEEL_IMAGE = "solaris/data/sample_geotiff.tif"
WHEEL_LABELS = "solaris/data/geotiff_labels.geojson"
CATEGORIES = [{"id": 1, "name": "building"}]
SPLITS = ("train", "test")
DEMO_CONFIG = "configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml"
# GeoTIFF tags and GeoKeys (GeoTIFF 1.0 specification).
TAG_PIXEL_SCALE, TAG_TIEPOINT, TAG_GEOKEYS = 33550, 33922, 34735
KEY_RASTER_TYPE, KEY_PROJECTED_CRS = 1025, 3072
PIXEL_IS_POINT = 2


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





def geokeys(directory: tuple[int, ...]) -> dict[int, int]:
    """The short-valued GeoKeys of a GeoKeyDirectoryTag (header of 4, then 4 numbers a key)."""
    keys = {}
    for i in range(4, 4 + 4 * directory[3], 4):
        key, location, _count, value = directory[i:i + 4]
        if location == 0:  # the value is stored in place (the keys needed here all are)
            keys[key] = value
    return keys


def pixel_transform(tags: dict[int, tuple]) -> tuple[float, float, float, float]:
    """(x0, y0, sx, sy) with column = (X - x0) / sx and row = (y0 - Y) / sy in continuous pixel
    coordinates (0 at the top-left edge of the first pixel), from the GeoTIFF's tie point and pixel
    scale. A PixelIsPoint raster ties the centre of the first pixel: shifted by half a pixel."""
    if TAG_PIXEL_SCALE not in tags or TAG_TIEPOINT not in tags:
        raise ValueError("no ModelPixelScale / ModelTiepoint tags (not a GeoTIFF?)")
    sx, sy = tags[TAG_PIXEL_SCALE][:2]
    i, j, _k, x, y, _z = tags[TAG_TIEPOINT][:6]
    x0, y0 = x - i * sx, y + j * sy
    if geokeys(tags.get(TAG_GEOKEYS, (1, 1, 0, 0))).get(KEY_RASTER_TYPE) == PIXEL_IS_POINT:
        x0, y0 = x0 - sx / 2, y0 + sy / 2
    return x0, y0, sx, sy


def geojson_epsg(labels: dict) -> int | None:
    """The EPSG code of a GeoJSON's (pre-RFC 7946) "crs" member, if it names one."""
    name = (labels.get("crs") or {}).get("properties", {}).get("name", "")
    m = re.search(r"EPSG::?(\d+)$", name)
    return int(m.group(1)) if m else None


def footprints_to_pixels(labels: dict, transform: tuple[float, float, float, float]) -> list[np.ndarray]:
    """The outer ring of each footprint polygon as an (N, 2) float array of pixel (x, y)."""
    x0, y0, sx, sy = transform
    rings = []
    for feature in labels["features"]:
        geom = feature.get("geometry") or {}
        polygons = {"Polygon": [geom.get("coordinates")], "MultiPolygon": geom.get("coordinates")}.get(geom.get("type"))
        if polygons is None:
            raise ValueError(f"unexpected geometry {geom.get('type')!r}")
        for polygon in polygons:
            # Footprints have no courtyards here; a hole would only be drawn filled.
            ring = np.asarray(polygon[0], np.float64)[:, :2]
            rings.append(np.stack([(ring[:, 0] - x0) / sx, (y0 - ring[:, 1]) / sy], axis=1))
    return rings


def read_wheel_data(wheel: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """The image and its footprints in pixel coordinates, read straight from the wheel (a zip file)."""
    import tifffile  # only needed here; keeps `--help` and the tiling functions free of it

    try:
        with zipfile.ZipFile(wheel) as z:
            with tifffile.TiffFile(io.BytesIO(z.read(WHEEL_IMAGE))) as tif:
                page = tif.pages[0]
                image = page.asarray()
                tags = {t.code: t.value for t in page.tags.values()}
            labels = json.loads(z.read(WHEEL_LABELS))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
        sys.exit(f"{wheel}: not a solaris wheel with {WHEEL_IMAGE} and {WHEEL_LABELS} ({e}).")
    if image.ndim != 2:
        sys.exit(f"{wheel}: expected a one-band image, got shape {image.shape}.")
    image_epsg = geokeys(tags.get(TAG_GEOKEYS, (1, 1, 0, 0))).get(KEY_PROJECTED_CRS)
    if geojson_epsg(labels) != image_epsg:
        sys.exit(f"{wheel}: the labels are in EPSG:{geojson_epsg(labels)}, the image in EPSG:{image_epsg}.")
    try:
        rings = footprints_to_pixels(labels, pixel_transform(tags))
    except (ValueError, KeyError, TypeError) as e:
        sys.exit(f"{wheel}: cannot map the footprints to pixels ({e}).")
    return image, rings


def normalize_to_uint8(image: np.ndarray, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """Percentile normalisation of the 11-bit panchromatic band (a few bright roofs would
    otherwise set the scale), over the whole image so that all tiles share it."""
    lo, hi = np.percentile(image.astype(np.float64), [low, high])
    scaled = (image.astype(np.float64) - lo) / max(hi - lo, 1e-12)
    return (np.clip(scaled, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def clip_polygon(ring: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Sutherland-Hodgman clipping of a polygon to the rectangle [x0, x1] x [y0, y1].

    Exact for the rectangle (convex); a concave footprint cut into several parts comes back as one
    ring joined by zero-width edges along the border, which draws and measures the same."""
    def clip(points: list, inside, cross) -> list:
        out = []
        for i, cur in enumerate(points):
            prev = points[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cross(prev, cur))
        return out

    def at_x(x: float):
        return lambda p, q: (x, p[1] + (q[1] - p[1]) * (x - p[0]) / (q[0] - p[0]))

    def at_y(y: float):
        return lambda p, q: (p[0] + (q[0] - p[0]) * (y - p[1]) / (q[1] - p[1]), y)

    points = [tuple(p) for p in ring]
    if len(points) > 1 and points[0] == points[-1]:  # GeoJSON rings repeat their first point
        points = points[:-1]
    for inside, cross in ((lambda p: p[0] >= x0, at_x(x0)), (lambda p: p[0] <= x1, at_x(x1)),
                          (lambda p: p[1] >= y0, at_y(y0)), (lambda p: p[1] <= y1, at_y(y1))):
        if not points:
            break
        points = clip(points, inside, cross)
    return np.asarray(points, np.float64).reshape(-1, 2)


def polygon_area(ring: np.ndarray) -> float:
    """Shoelace area of a polygon in px²."""
    x, y = ring[:, 0], ring[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def tile_annotations(rings: list[np.ndarray], y: int, x: int, size: int, min_area: float) -> list[dict]:
    """One annotation per footprint that overlaps the tile: its polygon cut to the tile (tile
    coordinates), with bbox XYWH and area of the cut polygon; parts smaller than ``min_area`` px²
    (slivers cut by a tile border) are dropped."""
    anns = []
    for ring in rings:
        cut = clip_polygon(ring, x, y, x + size, y + size)
        if len(cut) < 3:
            continue
        area = polygon_area(cut)
        if area <= 0 or area < min_area:  # a polygon that only touches the tile has no area in it
            continue
        cut = cut - (x, y)
        bx0, by0 = cut.min(axis=0)
        bx1, by1 = cut.max(axis=0)
        anns.append({"bbox": [float(bx0), float(by0), float(bx1 - bx0), float(by1 - by0)], "area": area,
                     "segmentation": [cut.round(2).flatten().tolist()], "category_id": 1, "iscrowd": 0})
    return anns


def split_tiles(rings: list[np.ndarray], height: int, width: int, tile: int = 150, min_area: float = 20.0,
                test_fraction: float = 1 / 3) -> dict[str, list[Tile]]:
    """Tile the image without overlap (a remainder narrower than a tile is left out) and split by
    tile row: test = the last ``test_fraction`` of the rows (the bottom), train = the rows above."""
    if tile <= 0:
        raise ValueError("tile must be positive")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rows, cols = height // tile, width // tile
    if rows < 2 or cols < 1:
        raise ValueError(f"tile {tile} leaves fewer than two rows of tiles: use a smaller --tile")
    n_test = min(max(1, round(rows * test_fraction)), rows - 1)
    out: dict[str, list[Tile]] = {"train": [], "test": []}
    for r in range(rows):
        split = "test" if r >= rows - n_test else "train"
        for c in range(cols):
            y, x = r * tile, c * tile
            out[split].append(Tile(y, x, tile, tile_annotations(rings, y, x, tile, min_area)))
    return out


def to_coco(tiles: list[Tile], description: str) -> dict:
    return coco_json([(t.file_name, t.size, t.size, t.annotations) for t in tiles], description, CATEGORIES)


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

    coco = (f"[['buildings_train','{p('train.json')}','{p('train')}'],"
            f"['buildings_test','{p('test.json')}','{p('test')}']]")
    return (f'SCRATCHDET.DATA.COCO "{coco}" DATASETS.TRAIN "(\'buildings_train\',)" '
            f'DATASETS.TEST "(\'buildings_test\',)" MODEL.ROI_HEADS.NUM_CLASSES 1')


def print_train_command(out: str) -> None:
    # The demo config is sized for ~128 px images with objects of ~10-60 px, as here (150 px tiles
    # resized to 128, footprints of 8-57 px).
    print("Train on it with (paths relative to the current directory):\n"
          f"  python train_net.py --config-file {DEMO_CONFIG} {train_opts(out)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join("datasets", "buildings"),
                        help="output folder (default: datasets/buildings, relative to the current directory)")
    parser.add_argument("--wheel", help="a solaris wheel already downloaded (default: download it)")
    parser.add_argument("--tile", type=int, default=150, help="tile size in px, no overlap (default: 150)")
    parser.add_argument("--min-area", type=float, default=20.0,
                        help="drop footprint parts (cut by a tile border) smaller than this many px² (default: 20)")
    parser.add_argument("--test-fraction", type=float, default=1 / 3,
                        help="fraction of the tile rows, the bottom ones, used for test (default: 1/3)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the json files exist")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = os.path.normpath(args.out)
    if not args.force and all(os.path.isfile(os.path.join(out, f"{s}.json")) for s in SPLITS):
        print(f"{out}/train.json and test.json exist: nothing to do (use --force to rebuild).")
        print_train_command(out)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel("solaris", SOLARIS_VERSION, tmp)
        image, rings = read_wheel_data(wheel)
    print(f"Read {WHEEL_IMAGE} {image.shape} {image.dtype} and {len(rings)} footprints from {os.path.basename(wheel)}")

    try:
        splits = split_tiles(rings, *image.shape, args.tile, args.min_area, args.test_fraction)
    except ValueError as e:
        sys.exit(f"Cannot tile the {image.shape[0]}x{image.shape[1]} image: {e}.")
    write_dataset(normalize_to_uint8(image), splits, out,
                  f"solaris {SOLARIS_VERSION} SpaceNet Atlanta building footprints, tile {args.tile}")

    for split in SPLITS:
        n = sum(len(t.annotations) for t in splits[split])
        print(f"Wrote {out}/{split}.json: {len(splits[split])} tiles of {args.tile}x{args.tile}, "
              f"{n} instances (images in {out}/{split}/)")
    print_train_command(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
