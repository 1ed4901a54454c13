"""datasets/prepare_buildings.py on a tiny synthetic GeoTIFF and GeoJSON (no download): geo -> pixel
mapping, polygon clipping to tiles, COCO fields, the split by tile row and a whole run from a fake wheel."""

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

spec = importlib.util.spec_from_file_location("prepare_buildings", os.path.join(REPO, "datasets", "prepare_buildings.py"))
prep = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = prep  # dataclasses look their module up there
spec.loader.exec_module(prep)

EPSG = 32616  # UTM 16N, as the SpaceNet Atlanta image
X0, Y0, SCALE = 741000.0, 3737000.0, 0.5  # map coordinates of the top-left image corner, m per px
HEIGHT, WIDTH, TILE = 64, 70, 20  # 3 x 3 tiles of 20 px; the last 4 rows and 10 columns are left out


def rect(x0, y0, x1, y1) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


# Footprints in pixel coordinates (x = column, y = row, continuous, 0 at the top-left image edge).
INSIDE = rect(2, 2, 12, 10)  # in tile (0, 0): 80 px²
ACROSS = rect(15, 3, 27, 9)  # cut by x = 20: 30 + 42 px²
CORNER = np.array([[40, 12], [48, 20], [40, 28], [32, 20]], np.float64)  # a diamond on the corner (40, 20): 4 x 32 px²
SLIVER = rect(5, 19, 15, 24)  # 10 px² above y = 20 (dropped), 40 px² below
U_SHAPE = np.array([[22, 34], [34, 34], [34, 46], [31, 46], [31, 37], [25, 37], [25, 46], [22, 46]], np.float64)
LEFT_OUT = rect(62, 5, 68, 12)  # in the columns beyond the last whole tile


def to_map(ring: np.ndarray) -> list:
    """Pixel (x, y) -> closed GeoJSON ring in map coordinates (north up: Y decreases with the row)."""
    pts = [[X0 + SCALE * x, Y0 - SCALE * y] for x, y in ring]
    return [*pts, pts[0]]


def geojson(epsg=EPSG) -> dict:
    def feature(geom):
        return {"type": "Feature", "properties": {}, "geometry": geom}

    return {"type": "FeatureCollection",
            "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}},
            "features": [feature({"type": "Polygon", "coordinates": [to_map(r)]}) for r in (INSIDE, ACROSS, CORNER)]
            + [feature({"type": "MultiPolygon", "coordinates": [[to_map(SLIVER)], [to_map(U_SHAPE)]]}),
               feature({"type": "Polygon", "coordinates": [to_map(LEFT_OUT)]})]}


RINGS = [INSIDE, ACROSS, CORNER, SLIVER, U_SHAPE, LEFT_OUT]  # in the order the GeoJSON lists them


def geotiff(image: np.ndarray, raster_type=1, epsg=EPSG, tie_ij=(0, 0)) -> bytes:
    """A GeoTIFF with ModelPixelScale, ModelTiepoint and a GeoKeyDirectory, as tifffile writes it."""
    i, j = tie_ij
    # PixelIsArea ties the top-left corner of pixel (i, j), PixelIsPoint its centre.
    shift = 0.5 if raster_type == prep.PIXEL_IS_POINT else 0.0
    tie = (i, j, 0.0, X0 + SCALE * (i + shift), Y0 - SCALE * (j + shift), 0.0)
    keys = (1, 1, 0, 3, 1024, 0, 1, 1, prep.KEY_RASTER_TYPE, 0, 1, raster_type, prep.KEY_PROJECTED_CRS, 0, 1, epsg)
    buf = io.BytesIO()
    tifffile.imwrite(buf, image, extratags=[(prep.TAG_PIXEL_SCALE, "d", 3, (SCALE, SCALE, 0.0)),
                                            (prep.TAG_TIEPOINT, "d", 6, tie),
                                            (prep.TAG_GEOKEYS, "H", len(keys), keys)])
    return buf.getvalue()


def synthetic_image() -> np.ndarray:
    """An 11-bit panchromatic image: dark ground, bright footprints."""
    image = np.full((HEIGHT, WIDTH), 300, np.uint16)
    image += (np.arange(WIDTH, dtype=np.uint16) * 3)[None, :]
    for ring in RINGS:
        cv2.fillPoly(image, [ring.round().astype(np.int32)], 1800)
    return image


def fake_wheel(path, image=None, labels=None, **tiff_kwargs) -> str:
    """A zip laid out like the solaris wheel: the GeoTIFF and its GeoJSON labels."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(prep.WHEEL_IMAGE, geotiff(synthetic_image() if image is None else image, **tiff_kwargs))
        z.writestr(prep.WHEEL_LABELS, json.dumps(geojson() if labels is None else labels))
    return str(path)


def test_geokeys_and_pixel_transform():
    directory = (1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 2, 3073, 34737, 5, 0)  # the last key is stored elsewhere
    assert prep.geokeys(directory) == {1024: 1, 1025: 2}
    area_keys = (1, 1, 0, 1, 1025, 0, 1, 1)
    tags = {prep.TAG_PIXEL_SCALE: (0.5, 0.25, 0.0), prep.TAG_TIEPOINT: (0, 0, 0, 100.0, 200.0, 0), prep.TAG_GEOKEYS: area_keys}
    assert prep.pixel_transform(tags) == (100.0, 200.0, 0.5, 0.25)
    # A tie point at pixel (i, j) = (10, 20) of the same raster gives the same transform.
    tags[prep.TAG_TIEPOINT] = (10, 20, 0, 105.0, 195.0, 0)
    assert prep.pixel_transform(tags) == (100.0, 200.0, 0.5, 0.25)
    # PixelIsPoint: the tie point is the centre of the pixel, half a pixel right of and below its corner.
    tags[prep.TAG_GEOKEYS] = (1, 1, 0, 1, 1025, 0, 1, prep.PIXEL_IS_POINT)
    assert prep.pixel_transform(tags) == (99.75, 200.125, 0.5, 0.25)
    del tags[prep.TAG_GEOKEYS]  # no GeoKeys: PixelIsArea, the GeoTIFF default
    assert prep.pixel_transform(tags) == (100.0, 200.0, 0.5, 0.25)
    for missing in (prep.TAG_PIXEL_SCALE, prep.TAG_TIEPOINT):
        with pytest.raises(ValueError):
            prep.pixel_transform({k: v for k, v in tags.items() if k != missing})


def test_geojson_epsg():
    def crs(name):
        return {"crs": {"type": "name", "properties": {"name": name}}}

    assert prep.geojson_epsg(crs("urn:ogc:def:crs:EPSG::32616")) == 32616
    assert prep.geojson_epsg(crs("EPSG:4326")) == 4326
    assert prep.geojson_epsg(crs("urn:ogc:def:crs:OGC:1.3:CRS84")) is None
    assert prep.geojson_epsg({"type": "FeatureCollection", "features": []}) is None


@pytest.mark.parametrize("raster_type,tie_ij", [(1, (0, 0)), (1, (7, 5)), (prep.PIXEL_IS_POINT, (0, 0)),
                                                (prep.PIXEL_IS_POINT, (3, 9))])
def test_read_wheel_data_maps_footprints_to_pixels(tmp_path, raster_type, tie_ij):
    image = synthetic_image()
    got, rings = prep.read_wheel_data(fake_wheel(tmp_path / "solaris.whl", image, raster_type=raster_type, tie_ij=tie_ij))
    assert got.dtype == np.uint16 and np.array_equal(got, image)
    assert len(rings) == len(RINGS)  # the MultiPolygon gives one ring a part
    for ring, truth in zip(rings, RINGS):
        assert ring.shape == (len(truth) + 1, 2)  # GeoJSON's closing point is kept
        np.testing.assert_allclose(ring, np.vstack([truth, truth[:1]]), atol=1e-6)


def test_read_wheel_data_refuses_bad_input(tmp_path):
    with pytest.raises(SystemExit, match="EPSG:4326"):  # labels in another CRS than the image
        prep.read_wheel_data(fake_wheel(tmp_path / "crs.whl", labels=geojson(epsg=4326)))
    point = geojson()
    point["features"].append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [X0, Y0]}})
    with pytest.raises(SystemExit, match="Point"):
        prep.read_wheel_data(fake_wheel(tmp_path / "point.whl", labels=point))
    with pytest.raises(SystemExit, match="one-band"):
        prep.read_wheel_data(fake_wheel(tmp_path / "rgb.whl", image=np.zeros((8, 8, 3), np.uint8)))
    with zipfile.ZipFile(tmp_path / "empty.whl", "w") as z:
        z.writestr("solaris/__init__.py", "")
    with pytest.raises(SystemExit, match="not a solaris wheel"):
        prep.read_wheel_data(str(tmp_path / "empty.whl"))


def same_polygon(got: np.ndarray, expected: np.ndarray) -> bool:
    """The same vertices in the same cyclic order, whatever the start. Repeated consecutive
    vertices are merged: a vertex on the border comes back twice, which draws and measures the same."""
    keep = np.any(got != np.roll(got, 1, axis=0), axis=1)
    got = got[keep] if keep.any() else got[:1]
    if len(got) != len(expected):
        return False
    return any(np.allclose(np.roll(got, k, axis=0), expected) for k in range(len(got)))


def test_clip_polygon_cuts_exactly():
    area = prep.polygon_area
    assert area(INSIDE) == 80.0 and area(CORNER) == 128.0 and area(U_SHAPE) == 12 * 12 - 6 * 9
    # Inside: unchanged (a closed GeoJSON ring loses its repeated point).
    assert same_polygon(prep.clip_polygon(np.vstack([INSIDE, INSIDE[:1]]), 0, 0, 20, 20), INSIDE)
    # Cut by x = 20: the two rectangles either side of the border.
    left, right = prep.clip_polygon(ACROSS, 0, 0, 20, 20), prep.clip_polygon(ACROSS, 20, 0, 40, 20)
    assert same_polygon(left, rect(15, 3, 20, 9)) and same_polygon(right, rect(20, 3, 27, 9))
    assert (area(left), area(right)) == (30.0, 42.0)
    # A diamond on a tile corner: four right triangles of 32 px², each with its right angle at the corner.
    quarters = [prep.clip_polygon(CORNER, x, y, x + 20, y + 20) for y in (0, 20) for x in (20, 40)]
    assert [area(q) for q in quarters] == [32.0] * 4
    assert same_polygon(quarters[0], np.array([[40, 12], [40, 20], [32, 20]], np.float64))
    # A slanted edge is cut where it crosses the border: (x, y) = (44, 16) on the diamond's top-right side.
    top = prep.clip_polygon(CORNER, 0, 0, 80, 16)
    assert same_polygon(top, np.array([[40, 12], [44, 16], [36, 16]], np.float64))
    # A U cut below its notch falls in two legs: one ring joined along the border, areas exact.
    legs = prep.clip_polygon(U_SHAPE, 0, 40, 60, 60)
    assert area(legs) == 2 * 3 * 6
    assert legs[:, 1].min() == 40 and legs[:, 1].max() == 46
    # Outside: nothing left.
    assert prep.clip_polygon(INSIDE, 20, 20, 40, 40).shape == (0, 2)


@pytest.mark.parametrize("ring", RINGS[:5], ids=["inside", "across", "corner", "sliver", "u"])
def test_clipped_parts_add_up_to_the_footprint(ring):
    """Over a grid that covers the footprint, its parts have its area: nothing lost, nothing twice."""
    parts = [prep.clip_polygon(ring, x, y, x + TILE, y + TILE) for y in range(0, 60, TILE) for x in range(0, 60, TILE)]
    assert sum(prep.polygon_area(p) for p in parts if len(p) >= 3) == pytest.approx(prep.polygon_area(ring), abs=1e-9)
    for p, (y, x) in zip(parts, [(y, x) for y in range(0, 60, TILE) for x in range(0, 60, TILE)]):
        if len(p):
            assert p[:, 0].min() >= x and p[:, 0].max() <= x + TILE and p[:, 1].min() >= y and p[:, 1].max() <= y + TILE


def test_tile_annotations_fields():
    # Tile (y, x) = (0, 20): the right part of ACROSS (42 px²), the top-left quarter of CORNER.
    anns = prep.tile_annotations(RINGS, 0, 20, TILE, min_area=20.0)
    assert len(anns) == 2
    for a in anns:
        assert set(a) == {"bbox", "area", "segmentation", "category_id", "iscrowd"}
        assert a["category_id"] == prep.CATEGORIES[0]["id"] == 1 and a["iscrowd"] == 0
        assert isinstance(a["area"], float) and all(isinstance(v, float) for v in a["bbox"])
        assert len(a["segmentation"]) == 1 and len(a["segmentation"][0]) % 2 == 0 and len(a["segmentation"][0]) >= 6
        poly = np.asarray(a["segmentation"][0]).reshape(-1, 2)
        x, y, w, h = a["bbox"]
        # bbox XYWH: the bounds of the cut polygon, in tile coordinates, inside the tile.
        assert [x, y, x + w, y + h] == [*poly.min(axis=0), *poly.max(axis=0)]
        assert x >= 0 and y >= 0 and x + w <= TILE and y + h <= TILE
        assert a["area"] == pytest.approx(prep.polygon_area(poly))
    assert [a["bbox"] for a in anns] == [[0.0, 3.0, 7.0, 6.0], [12.0, 12.0, 8.0, 8.0]]
    assert [a["area"] for a in anns] == [42.0, 32.0]
    assert same_polygon(np.asarray(anns[0]["segmentation"][0]).reshape(-1, 2), rect(0, 3, 7, 9))
    # The sliver: 10 px² above y = 20 is dropped under min_area 20, kept under 5; 40 px² below kept.
    assert prep.tile_annotations([SLIVER], 0, 0, TILE, 20.0) == []
    assert [a["area"] for a in prep.tile_annotations([SLIVER], 0, 0, TILE, 5.0)] == [10.0]
    assert [a["area"] for a in prep.tile_annotations([SLIVER], 20, 0, TILE, 20.0)] == [40.0]
    # Coordinates are rounded to 0.01 px in the json, not more.
    odd = np.array([[1.234567, 1.0], [9.876543, 1.0], [5.0, 9.5]])
    assert prep.tile_annotations([odd], 0, 0, TILE, 1.0)[0]["segmentation"] == [pytest.approx([1.23, 1.0, 9.88, 1.0, 5.0, 9.5])]


def coverage(tiles, shape) -> np.ndarray:
    cov = np.zeros(shape, np.int32)
    for t in tiles:
        cov[t.y:t.y + t.size, t.x:t.x + t.size] += 1
    return cov


def test_split_tiles_by_row():
    splits = prep.split_tiles(RINGS, HEIGHT, WIDTH, tile=TILE, min_area=20.0, test_fraction=1 / 3)
    assert [(t.y, t.x) for t in splits["train"]] == [(y, x) for y in (0, 20) for x in (0, 20, 40)]
    assert [(t.y, t.x) for t in splits["test"]] == [(40, x) for x in (0, 20, 40)]  # the bottom row
    train, test = coverage(splits["train"], (HEIGHT, WIDTH)), coverage(splits["test"], (HEIGHT, WIDTH))
    assert train.max() == 1 and test.max() == 1 and not np.any((train > 0) & (test > 0))
    assert (train + test)[:60, :60].min() == 1 and (train + test)[60:].sum() == 0 and (train + test)[:, 60:].sum() == 0
    for t in splits["train"] + splits["test"]:
        assert t.size == TILE and t.annotations == prep.tile_annotations(RINGS, t.y, t.x, TILE, 20.0)
    # Parts per footprint: INSIDE 1, ACROSS 2, CORNER 4, SLIVER 1 (its 10 px² dropped), U 1 + 1, LEFT_OUT 0.
    assert sum(len(t.annotations) for t in splits["train"]) == 1 + 2 + 4 + 1 + 1
    # In test: the U's two legs below y = 40, one annotation (one ring joined along the border) of 2 x 18 px².
    assert [a["area"] for t in splits["test"] for a in t.annotations] == [36.0]
    # With no part dropped, the areas in all tiles add up to those of the footprints in the tiled area.
    fine = prep.split_tiles(RINGS, HEIGHT, WIDTH, tile=TILE, min_area=1e-6)
    total = sum(a["area"] for tiles in fine.values() for t in tiles for a in t.annotations)
    assert total == pytest.approx(sum(prep.polygon_area(r) for r in RINGS[:5]), abs=1e-9)
    # The number of test rows: rounded, at least one, and never all of them.
    assert len(prep.split_tiles(RINGS, 60, 20, tile=20, test_fraction=0.9)["test"]) == 2
    assert len(prep.split_tiles(RINGS, 60, 20, tile=20, test_fraction=0.01)["test"]) == 1
    for kwargs in ({"tile": 0}, {"tile": 40}, {"test_fraction": 0.0}, {"test_fraction": 1.0}):
        with pytest.raises(ValueError):
            prep.split_tiles(RINGS, HEIGHT, WIDTH, **{"tile": TILE, **kwargs})


def test_no_zero_area_annotation_with_min_area_zero():
    assert prep.tile_annotations([INSIDE], 0, 12, TILE, min_area=0.0) == []  # INSIDE ends at x = 12


def test_to_coco_ids():
    tiles = [prep.Tile(0, 0, TILE, prep.tile_annotations(RINGS, 0, 0, TILE, 20.0)), prep.Tile(0, 20, TILE, []),
             prep.Tile(20, 20, TILE, prep.tile_annotations(RINGS, 20, 20, TILE, 20.0))]
    coco = prep.to_coco(tiles, "synthetic")
    assert coco["info"] == {"description": "synthetic"} and coco["categories"] == [{"id": 1, "name": "building"}]
    assert coco["images"] == [{"id": 1, "file_name": "tile_y0000_x0000.png", "height": 20, "width": 20},
                              {"id": 2, "file_name": "tile_y0000_x0020.png", "height": 20, "width": 20},
                              {"id": 3, "file_name": "tile_y0020_x0020.png", "height": 20, "width": 20}]
    assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))
    assert [a["image_id"] for a in coco["annotations"]] == [1, 1] + [3] * len(tiles[2].annotations)


def test_normalize_to_uint8():
    img = np.linspace(0, 2047, 64 * 64).reshape(64, 64).astype(np.uint16)
    img[0, :4] = 65535  # a few hot pixels do not squash the rest
    out = prep.normalize_to_uint8(img)
    assert out.dtype == np.uint8 and out.shape == img.shape and out.min() == 0 and out.max() == 255
    assert 110 < out[32, 32] < 145
    assert np.all(np.diff(out[1:].astype(int).ravel()) >= 0)  # monotonic
    assert prep.normalize_to_uint8(np.full((4, 4), 7, np.uint16)).max() == 0  # flat: no division by zero


def test_main_writes_coco_deterministically(tmp_path, capsys):
    wheel = fake_wheel(tmp_path / "solaris-0.4.0-fake.whl")
    outs = [str(tmp_path / "a"), str(tmp_path / "b")]
    for out in outs:
        assert prep.main(["--wheel", wheel, "--out", out, "--tile", str(TILE)]) == 0
    printed = capsys.readouterr().out
    assert (f"SCRATCHDET.DATA.COCO \"[['buildings_train','{outs[1]}/train.json','{outs[1]}/train'],"
            f"['buildings_test','{outs[1]}/test.json','{outs[1]}/test']]\"") in printed
    assert "MODEL.ROI_HEADS.NUM_CLASSES 1" in printed
    image_u8 = prep.normalize_to_uint8(synthetic_image())
    n_ann = {}
    for split in prep.SPLITS:
        raw = [open(os.path.join(out, f"{split}.json"), "rb").read() for out in outs]
        assert raw[0] == raw[1]  # two runs, the same json byte for byte
        coco = read_coco_json(os.path.join(outs[0], f"{split}.json"))  # the project's own COCO checks
        assert coco["categories"] == [{"id": 1, "name": "building"}]
        assert sorted(im["file_name"] for im in coco["images"]) == sorted(os.listdir(os.path.join(outs[0], split)))
        images = {im["id"]: im for im in coco["images"]}
        for im in coco["images"]:
            y, x = (int(v) for v in im["file_name"][len("tile_y"):-len(".png")].split("_x"))
            png = cv2.imread(os.path.join(outs[0], split, im["file_name"]), cv2.IMREAD_UNCHANGED)
            assert png.shape == (TILE, TILE, 3) and png.dtype == np.uint8
            assert all(np.array_equal(png[..., c], image_u8[y:y + TILE, x:x + TILE]) for c in range(3))
        for a in coco["annotations"]:
            im = images[a["image_id"]]
            # The polygon draws a mask of about its area (rasterisation differs by under a pixel a border px).
            drawn = mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(a["segmentation"], TILE, TILE)))
            x, y, w, h = a["bbox"]
            assert abs(drawn - a["area"]) <= 2 * (w + h) + 1 and a["area"] >= 20.0
            assert x >= 0 and y >= 0 and x + w <= im["width"] and y + h <= im["height"]
        n_ann[split] = len(coco["annotations"])
    assert n_ann == {"train": 9, "test": 1}
    # A second run does nothing; --force with another tile replaces the tiles of the first.
    args = ["--wheel", wheel, "--out", outs[0]]
    assert prep.main(args) == 0 and "nothing to do" in capsys.readouterr().out
    assert prep.main([*args, "--tile", "30", "--force"]) == 0
    for split, n in (("train", 2), ("test", 2)):  # 2 x 2 tiles of 30 px, one row each
        coco = json.load(open(os.path.join(outs[0], f"{split}.json")))
        assert len(coco["images"]) == len(os.listdir(os.path.join(outs[0], split))) == n
    with pytest.raises(SystemExit, match="fewer than two rows"):
        prep.main([*args, "--tile", "40", "--force"])
