"""Unlabelled image sets from the config (SCRATCHDET.DATA.UNLABELLED): folders and COCO json."""

import json

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog

from scratchdet.config import load_config_file
from scratchdet.data.datasets import DatasetError, load_unlabelled_images, register_datasets_from_config
from tests.conftest import DEMO_CONFIG


def _images(folder, n=3, size=(40, 56)):
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / ("sub" if i % 2 else "") / f"im{i}.png"), np.full((*size, 3), 40 * i, np.uint8))
    (folder / "notes.txt").write_text("not an image")


def test_folder_from_config_lists_images_recursively_with_sizes(tmp_path):
    _images(tmp_path / "unl")
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.UNLABELLED", f"[['unl_a', '{tmp_path / 'unl'}']]"])
    assert "unl_a" in register_datasets_from_config(cfg)
    dicts = DatasetCatalog.get("unl_a")
    assert len(dicts) == 3 and all(d["height"] == 40 and d["width"] == 56 for d in dicts)
    assert all("annotations" not in d for d in dicts)


def test_coco_json_images_without_annotations(tmp_path):
    _images(tmp_path / "img", n=2)
    j = tmp_path / "unl.json"
    j.write_text(json.dumps({"images": [{"id": 1, "file_name": "im0.png"}, {"id": 2, "file_name": "sub/im1.png"}]}))
    dicts = load_unlabelled_images(str(j), str(tmp_path / "img"))
    assert [d["file_name"].split("img/")[1] for d in dicts] == ["im0.png", "sub/im1.png"]


def test_empty_folder_names_key_and_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"SCRATCHDET.DATA.UNLABELLED: folder .*empty holds no images"):
        load_unlabelled_images(str(tmp_path / "empty"))


def test_unreadable_image_names_the_file(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match=r"Cannot read image .*broken.jpg"):
        load_unlabelled_images(str(tmp_path / "f"))


def test_bad_entry_is_a_config_error(tmp_path):
    from scratchdet.config import ConfigError

    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.UNLABELLED", "[['only_a_name']]"])
    with pytest.raises(ConfigError, match="SCRATCHDET.DATA.UNLABELLED entry"):
        register_datasets_from_config(cfg)
