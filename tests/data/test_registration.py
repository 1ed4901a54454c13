import os

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog

from scratchdet.config import ConfigError, load_config_file
from scratchdet.data import MAPPER_REGISTRY, build_mapper
from scratchdet.data.datasets import register_datasets_from_config
from tests.conftest import DEMO_CONFIG, write_coco


def test_register_coco_from_config(tmp_path):
    json_file, img_dir = write_coco(tmp_path)
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.COCO", f"[['cfg_coco_a', '{json_file}', '{img_dir}']]"])
    assert register_datasets_from_config(cfg) == ["cfg_coco_a"]
    dicts = DatasetCatalog.get("cfg_coco_a")
    assert len(dicts) == 2 and dicts[0]["annotations"][0]["category_id"] == 0
    meta = MetadataCatalog.get("cfg_coco_a")
    assert meta.evaluator_type == "coco" and meta.thing_classes == ["thing", "other"]


def test_register_voc_from_config(tmp_path):
    root = tmp_path / "voc"
    for d in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / d).mkdir(parents=True)
    for name in ("a", "b"):
        cv2.imwrite(str(root / "JPEGImages" / f"{name}.jpg"), np.zeros((50, 60, 3), np.uint8))
        (root / "Annotations" / f"{name}.xml").write_text(
            "<annotation><size><width>60</width><height>50</height></size><object><name>cat</name>"
            "<difficult>0</difficult><bndbox><xmin>5</xmin><ymin>6</ymin><xmax>30</xmax><ymax>40</ymax>"
            "</bndbox></object></annotation>")
    (root / "ImageSets" / "Main" / "train.txt").write_text("a\nb\n")
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.VOC", f"[['cfg_voc_a', '{root}', 'train', 'dog,cat']]"])
    register_datasets_from_config(cfg)
    d = DatasetCatalog.get("cfg_voc_a")
    assert d[0]["annotations"][0]["category_id"] == 1
    # VOC's XML is 1-based: detectron2 subtracts 1 from xmin/ymin
    assert d[0]["annotations"][0]["bbox"] == [4.0, 5.0, 30.0, 40.0]
    assert MetadataCatalog.get("cfg_voc_a").evaluator_type == "pascal_voc"


def test_bad_registration_entry():
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.COCO", "[['only_name']]"])
    with pytest.raises(ConfigError, match="expected \\[name, json_file, image_root\\]"):
        register_datasets_from_config(cfg)


def test_mapper_selected_by_name():
    cfg = load_config_file(DEMO_CONFIG)
    mapper = build_mapper(cfg, is_train=True)
    assert type(mapper) is MAPPER_REGISTRY.get("DatasetMapper") and mapper.is_train
    out = mapper(DatasetCatalog.get("shapes_train")[0])
    assert out["image"].shape[0] == 3 and len(out["instances"]) > 0


def test_unknown_mapper_lists_known_ones():
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.TRAIN_MAPPER", "NoSuchMapper"])
    with pytest.raises(ConfigError, match=r"TRAIN_MAPPER='NoSuchMapper'.*DatasetMapper"):
        build_mapper(cfg, is_train=True)


def test_builtin_detectron2_names_are_available():
    names = DatasetCatalog.list()
    assert "coco_2017_train" in names and "voc_2007_trainval" in names
    assert os.path.basename(MetadataCatalog.get("coco_2017_val").json_file) == "instances_val2017.json"
