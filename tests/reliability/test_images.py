"""Images of more than 8 bits (16-bit PNG/TIFF, 32-bit and float TIFF) are read with their
contrast (before: all white) as SCRATCHDET.DATA.HIGH_BIT_DEPTH says; blank images are never used
silently; bad reading keys name the key."""

import json
import os

import cv2
import numpy as np
import pytest
import tifffile
from detectron2.data import detection_utils as d2_utils

from scratchdet.config import ConfigError
from scratchdet.data import build_mapper
from scratchdet.data.datasets import DatasetError
from scratchdet.data.read_image import HighBitDepth, high_bit_depth_from_config, read_dataset_image, read_image_file
from tests.conftest import coco_opts, no_checkpoint, run_entry

SIDE = 64
# A 16-bit gradient over most of the range, as a microscope writes it.
RAMP = (np.arange(SIDE * SIDE).reshape(SIDE, SIDE) * 13 + 1000).astype(np.uint16)


def _assert_keeps_order(raw: np.ndarray, image: np.ndarray) -> None:
    """Not blank, grayscale as three equal channels, and a brighter pixel is never darker."""
    assert image.dtype == np.uint8 and image.shape == (SIDE, SIDE, 3)
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
    assert image.min() < image.max()
    order = np.argsort(raw.ravel(), kind="stable")
    assert (np.diff(image[..., 0].ravel()[order].astype(int)) >= 0).all()
    assert len(np.unique(image)) > 100  # the contrast is kept, not a few levels


def _write(path, arr):
    if str(path).endswith(".png"):
        assert cv2.imwrite(str(path), arr)
    else:
        tifffile.imwrite(str(path), arr)
    return str(path)


@pytest.mark.parametrize("name,arr", [
    ("u16.png", RAMP),
    ("u16.tif", RAMP),
    ("u16_small_range.png", (RAMP // 16).astype(np.uint16)),  # 12-bit data in a 16-bit file
    ("f32_unit.tif", RAMP.astype(np.float32) / 65535),
    ("f32_large.tif", RAMP.astype(np.float32) * 3.5 - 2000),
    ("f64.tif", RAMP.astype(np.float64) / 7),  # PIL cannot open it: read by tifffile
    ("i32.tif", RAMP.astype(np.int32) * 1000),
    ("i16_signed.tif", (RAMP.astype(np.int32) - 30000).astype(np.int16)),
    ("u16_column.tif", RAMP[:, :, None]),
])
def test_high_bit_depth_images_keep_their_contrast(tmp_path, name, arr):
    # Before: detectron2's read_image clipped everything above 255: an all-white image.
    path = _write(tmp_path / name, arr)
    image = read_image_file(path, "BGR")
    _assert_keeps_order(arr.squeeze(), image)


def test_float_image_with_nan_is_read(tmp_path):
    arr = RAMP.astype(np.float32)
    arr[0, :5] = np.nan
    image = read_image_file(_write(tmp_path / "nan.tif", arr), "RGB")
    assert image.min() == 0 and image.max() == 255 and (image[0, :5] == 0).all()


def test_16bit_three_channel_tiff_is_read(tmp_path):
    arr = np.stack([RAMP, RAMP // 2, RAMP // 4], -1)
    image = read_image_file(_write(tmp_path / "rgb16.tif", arr), "RGB")
    assert image.shape == (SIDE, SIDE, 3) and image[..., 0].max() > image[..., 2].max() > 0


@pytest.mark.parametrize("fmt,channels", [("BGR", 3), ("RGB", 3), ("L", 1)])
def test_grayscale_becomes_the_input_format(tmp_path, fmt, channels):
    image = read_image_file(_write(tmp_path / "g.png", RAMP), fmt)
    assert image.shape == (SIDE, SIDE, channels) and image.min() == 0 and image.max() == 255


def test_8bit_images_are_read_as_detectron2_reads_them(tmp_path):
    rng = np.random.default_rng(0)
    path = _write(tmp_path / "rgb8.png", rng.integers(0, 255, (SIDE, SIDE, 3), dtype=np.uint8))
    for fmt in ("BGR", "RGB", "L"):
        assert np.array_equal(read_image_file(path, fmt), d2_utils.read_image(path, fmt))


def test_percentiles_ignore_hot_pixels(tmp_path):
    arr = RAMP.copy()
    arr[0, 0] = 65535  # one hot pixel
    path = _write(tmp_path / "hot.png", arr)
    minmax = read_image_file(path, "L", HighBitDepth("image_range", (0.0, 100.0)))
    robust = read_image_file(path, "L", HighBitDepth("image_range", (0.5, 99.5)))
    assert np.median(robust) > np.median(minmax) + 15


def test_fixed_range_keeps_absolute_intensities(tmp_path):
    dark = _write(tmp_path / "dark.png", (RAMP // 16).astype(np.uint16))  # 12-bit values
    by_12 = read_image_file(dark, "L", HighBitDepth("fixed", bits=12))
    by_16 = read_image_file(dark, "L", HighBitDepth("fixed", bits=16))
    assert by_12.max() >= 200 and by_16.max() <= 16  # RAMP // 16 peaks at 3390 of 4095
    unit = _write(tmp_path / "unit.tif", np.full((SIDE, SIDE), 0.5, np.float32))
    assert (read_image_file(unit, "L", HighBitDepth("fixed")) == 128).all()


def test_fixed_range_that_blanks_the_image_is_an_error(tmp_path):
    path = _write(tmp_path / "byte_in_16.png", np.tile(np.arange(SIDE, dtype=np.uint16), (SIDE, 1)))
    with pytest.raises(DatasetError, match=r"byte_in_16.png: the image has values 0 to 63 but is blank after "
                                           r"scaling.*HIGH_BIT_DEPTH image_range"):
        read_image_file(path, "BGR", HighBitDepth("fixed", bits=16))


@pytest.mark.parametrize("name,arr", [("e.png", RAMP), ("e.tif", RAMP.astype(np.float32))])
def test_error_mode_refuses_naming_file_and_key(tmp_path, name, arr):
    path = _write(tmp_path / name, arr)
    with pytest.raises(DatasetError, match=rf"{name}: a .* image of more than 8 bits per pixel, refused because "
                                           r"SCRATCHDET.DATA.HIGH_BIT_DEPTH is 'error'"):
        read_image_file(path, "BGR", HighBitDepth("error"))


def test_blank_image_is_warned_naming_the_file(tmp_path, scratchdet_warnings):
    records = scratchdet_warnings
    path = _write(tmp_path / "flat16.png", np.full((SIDE, SIDE), 4000, np.uint16))
    d = {"file_name": path, "height": SIDE, "width": SIDE, "annotations": [{"bbox": [1, 1, 5, 5]}]}
    image = read_dataset_image(d, "BGR")
    read_dataset_image(d, "BGR")  # once per file, not once per epoch
    assert (image == 0).all()
    assert len(records) == 1 and records[0].startswith(f"{path}: the image is blank") and "1 annotation(s)" in records[0]


@pytest.mark.parametrize("key,value,expect", [
    ("SCRATCHDET.DATA.HIGH_BIT_DEPTH", "minmax", "SCRATCHDET.DATA.HIGH_BIT_DEPTH='minmax': use one of"),
    ("SCRATCHDET.DATA.HIGH_BIT_DEPTH_PERCENTILES", "(99.0, 1.0)", "SCRATCHDET.DATA.HIGH_BIT_DEPTH_PERCENTILES=(99.0, 1.0)"),
    ("SCRATCHDET.DATA.HIGH_BIT_DEPTH_PERCENTILES", "(0.0, 101.0)", "0 <= low < high <= 100"),
    ("SCRATCHDET.DATA.HIGH_BIT_DEPTH_BITS", "8", "SCRATCHDET.DATA.HIGH_BIT_DEPTH_BITS=8"),
])
def test_bad_reading_keys_name_the_key(tiny_cfg, key, value, expect):
    with pytest.raises(ConfigError) as e:
        high_bit_depth_from_config(tiny_cfg(key, value))
    assert expect in str(e.value)


def _coco16(tmp_path, n=2):
    img_dir = tmp_path / "img16"
    img_dir.mkdir()
    images, anns = [], []
    for i in range(n):
        cv2.imwrite(str(img_dir / f"{i}.png"), np.roll(RAMP, 7 * i, axis=1))
        images.append({"id": i + 1, "file_name": f"{i}.png", "height": SIDE, "width": SIDE})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [8, 8, 24, 24], "iscrowd": 0,
                     "area": 576, "segmentation": [[8, 8, 32, 8, 32, 32, 8, 32]]})
    path = tmp_path / "cells16.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "cell"}]}))
    return str(path), str(img_dir)


def test_mappers_see_the_16bit_contrast(tmp_path, tiny_cfg):
    json_file, img_dir = _coco16(tmp_path)
    d = {"file_name": os.path.join(img_dir, "0.png"), "height": SIDE, "width": SIDE, "image_id": 1,
         "annotations": [{"bbox": [8, 8, 32, 32], "bbox_mode": 0, "category_id": 0, "iscrowd": 0,
                          "segmentation": [[8, 8, 32, 8, 32, 32, 8, 32]]}]}
    # SSD's random photometric jitter and min-IoU crop can shrink the range by themselves (a crop
    # of the ramp, contrast 0.5): switched off so that only the reading path is tested.
    no_ssd_jitter = ("INPUT.SSD.PHOTOMETRIC_PROB", "0.0", "INPUT.SSD.CROP_MIN_IOUS", "()")
    for mapper_name in ("DatasetMapper", "AugmentedDatasetMapper", "SSDMapper", "LowResPretrainMapper"):
        cfg = tiny_cfg("SCRATCHDET.DATA.TRAIN_MAPPER", mapper_name, "MODEL.ROI_HEADS.NUM_CLASSES", "1", *no_ssd_jitter)
        image = build_mapper(cfg, is_train=True)(dict(d))["image"]
        assert int(image.max()) - int(image.min()) > 100, mapper_name


def test_16bit_dataset_trains(tmp_path):
    json_file, img_dir = _coco16(tmp_path)
    out = tmp_path / "out"
    code, first, err = run_entry(out, *coco_opts(json_file, img_dir))
    assert code == 0, err
    assert os.path.isfile(out / "model_final.pth")


def test_16bit_dataset_refused_with_error_mode(tmp_path):
    json_file, img_dir = _coco16(tmp_path)
    out = tmp_path / "out"
    code, first, _ = run_entry(out, *coco_opts(json_file, img_dir), "SCRATCHDET.DATA.HIGH_BIT_DEPTH", "error")
    assert code == 2
    assert first.startswith("scratchdet: error: ") and "img16/" in first and "HIGH_BIT_DEPTH is 'error'" in first
    assert no_checkpoint(out)
