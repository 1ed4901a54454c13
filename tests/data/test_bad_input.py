"""Every kind of bad dataset input gets one message naming the file and what to do."""

import json

import pytest
from detectron2.data import DatasetCatalog
from detectron2.structures import BoxMode

from scratchdet.config import ConfigError
from scratchdet.data import build_mapper
from scratchdet.data.datasets import DatasetError, check_dataset_dicts, read_coco_json, register_coco_json
from scratchdet.engine import checked_dicts
from tests.conftest import DEMO_CONFIG, write_coco


def test_invalid_json_names_file_and_line(tmp_path):
    f = tmp_path / "broken.json"
    f.write_text('{"images": [1, 2,,]}')
    with pytest.raises(DatasetError, match=r"broken.json is not valid json \(line 1"):
        read_coco_json(str(f))


def test_json_without_coco_sections(tmp_path):
    f = tmp_path / "notcoco.json"
    f.write_text(json.dumps({"images": []}))
    with pytest.raises(DatasetError, match=r"notcoco.json is not COCO json: it has no 'annotations', 'categories'"):
        read_coco_json(str(f))


def test_unknown_category_id(tmp_path):
    anns = [{"id": 1, "image_id": 1, "category_id": 42, "bbox": [1, 1, 5, 5], "iscrowd": 0}]
    json_file, _ = write_coco(tmp_path, anns=anns)
    with pytest.raises(DatasetError, match=r"category_id \[42\].*not in 'categories'"):
        read_coco_json(json_file)


def test_missing_annotation_file():
    with pytest.raises(DatasetError, match="Annotation file not found: /nope.json"):
        read_coco_json("/nope.json")


def _dicts(boxes, w=80, h=64):
    return [{"file_name": "x.png", "width": w, "height": h, "annotations": [
        {"bbox": b, "bbox_mode": BoxMode.XYXY_ABS, "category_id": 0} for b in boxes]}]


@pytest.mark.parametrize("box,reason", [
    ([10, 10, 10, 30], "zero or negative size"),
    ([100, 10, 120, 30], "entirely outside"),
    ([70, 10, 90, 30], "extends outside the 80x64 image"),
])
def test_bad_boxes_are_reported_with_file(box, reason):
    with pytest.raises(DatasetError, match=rf"(?s)x.png: box .* {reason}.*ON_BAD_ANNOTATION drop"):
        check_dataset_dicts(_dicts([box]), "t", num_classes=1, check_images=False)


def test_drop_mode_removes_and_clips():
    d = check_dataset_dicts(_dicts([[10, 10, 10, 30], [70, 10, 90, 30], [1, 1, 5, 5]]), "t", num_classes=1,
                            on_bad="drop", check_images=False)
    boxes = [a["bbox"] for a in d[0]["annotations"]]
    assert boxes == [[70, 10, 80, 30], [1, 1, 5, 5]]


def test_class_index_outside_model():
    d = _dicts([[1, 1, 5, 5]])
    d[0]["annotations"][0]["category_id"] = 3
    with pytest.raises(DatasetError, match="class index 3, outside the model's 2 classes"):
        check_dataset_dicts(d, "t", num_classes=2, check_images=False)


def test_missing_image_file(tmp_path):
    json_file, img_dir = write_coco(tmp_path, name="missing")
    (tmp_path / "missing_img" / "1.png").unlink()
    register_coco_json("bad_missing_img", json_file, img_dir)
    from scratchdet.config import load_config_file

    cfg = load_config_file(DEMO_CONFIG, ["MODEL.ROI_HEADS.NUM_CLASSES", "2"])
    with pytest.raises(DatasetError, match=r"1 image file\(s\) do not exist, e.g. \['.*missing_img/1.png'\]"):
        checked_dicts(cfg, ["bad_missing_img"], is_train=True)


def test_num_classes_mismatch_names_the_key(tmp_path):
    json_file, img_dir = write_coco(tmp_path, name="twocls")
    register_coco_json("twocls_ds", json_file, img_dir)
    from scratchdet.config import load_config_file

    cfg = load_config_file(DEMO_CONFIG)
    with pytest.raises(ConfigError, match="has 2 classes .* set MODEL.ROI_HEADS.NUM_CLASSES 2"):
        checked_dicts(cfg, ["twocls_ds"], is_train=True)


@pytest.mark.parametrize("arch,opts,key", [
    ("FCOS", ["MODEL.RETINANET.NUM_CLASSES", "5"], "MODEL.RETINANET.NUM_CLASSES"),
    ("DEYODetector", ["SCRATCHDET.DEYO.NUM_CLASSES", "5"], "SCRATCHDET.DEYO.NUM_CLASSES"),
])
def test_num_classes_mismatch_of_fcos_and_deyo(tmp_path, arch, opts, key):
    json_file, img_dir = write_coco(tmp_path, name="twocls")
    register_coco_json(f"twocls_{arch}", json_file, img_dir)
    from scratchdet.config import load_config_file

    cfg = load_config_file(DEMO_CONFIG, ["MODEL.META_ARCHITECTURE", arch, "MODEL.MASK_ON", "False", *opts])
    with pytest.raises(ConfigError, match=f"has 2 classes .* set {key} 2"):
        checked_dicts(cfg, [f"twocls_{arch}"], is_train=True)
    cfg.defrost()
    cfg.merge_from_list([key, "2"] if arch == "FCOS" else [key, "0"])  # DEYO's 0: from the dataset
    assert len(checked_dicts(cfg, [f"twocls_{arch}"], is_train=True)) > 0


def test_corrupt_image_names_the_file(tmp_path):
    from scratchdet.config import load_config_file

    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n not really a png")
    d = dict(DatasetCatalog.get("shapes_train")[0], file_name=str(bad))
    mapper = build_mapper(load_config_file(DEMO_CONFIG), is_train=True)
    with pytest.raises(DatasetError, match=r"Cannot read image .*corrupt.png.*missing or corrupt"):
        mapper(d)
