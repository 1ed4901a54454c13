"""A user's own data is scored with the ids of its json: perfect predictions (the ground truth,
as the model outputs it: contiguous class indices) give AP 100 on a dataset registered from the
config, on each part of a split of it, on a split of a dataset registered with detectron2's own
lazy ``register_coco_instances``, and on a VOC dataset. Before the fix, a split's val part had no
dataset-id map, every prediction carried category_id 0, and AP was 0."""

import json

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import register_coco_instances
from detectron2.structures import Boxes, BoxMode, Instances

from scratchdet.config import load_config_file
from scratchdet.data.datasets import register_datasets_from_config
from scratchdet.data.datasets.coco_json import read_coco_categories
from scratchdet.evaluation import build_evaluator
from tests.conftest import DEMO_CONFIG, write_user_coco


def perfect_predictions(dicts):
    inputs, outputs = [], []
    for d in dicts:
        boxes = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in d["annotations"]]
        inst = Instances((d["height"], d["width"]))
        inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        inst.scores = torch.ones(len(boxes))
        inst.pred_classes = torch.tensor([a["category_id"] for a in d["annotations"]], dtype=torch.int64)
        inputs.append({k: d[k] for k in ("image_id", "height", "width", "file_name")})
        outputs.append({"instances": inst})
    return inputs, outputs


def evaluate_perfect(cfg, name):
    """Load ``name`` as the Trainer's test loader does, then evaluate its ground truth."""
    dicts = DatasetCatalog.get(name)
    evaluator = build_evaluator(cfg, name)
    evaluator.reset()
    evaluator.process(*perfect_predictions(dicts))
    return evaluator.evaluate()


@pytest.mark.parametrize("cat_ids", [[1], [1, 7, 42]], ids=["one class", "ids 1,7,42"])
def test_split_of_a_users_json_scores_with_its_ids(tmp_path, cat_ids):
    tag = "_".join(map(str, cat_ids))
    json_file, img_dir = write_user_coco(tmp_path, "mine", cat_ids, n_images=10)
    src, tr, va = f"ids_{tag}", f"ids_{tag}_tr", f"ids_{tag}_va"
    cfg = load_config_file(DEMO_CONFIG, [
        "SCRATCHDET.DATA.COCO", f"[['{src}', '{json_file}', '{img_dir}']]",
        "SCRATCHDET.DATA.SPLIT", f"[['{src}', '{tr}', '{va}', 0.3, 0]]", "OUTPUT_DIR", str(tmp_path / "out")])
    register_datasets_from_config(cfg)
    # the class metadata is there before anything is loaded (a model or a check may need it)
    for name in (src, tr, va):
        meta = MetadataCatalog.get(name)
        assert meta.thing_classes == [f"class{c}" for c in cat_ids]
        assert meta.thing_dataset_id_to_contiguous_id == {c: i for i, c in enumerate(cat_ids)}
    for name in (va, tr, src):
        res = evaluate_perfect(cfg, name)
        assert res["bbox"]["AP"] == pytest.approx(100.0), name
    written = json.load(open(tmp_path / "out" / "inference" / "coco_instances_results.json"))
    assert {r["category_id"] for r in written} == set(cat_ids)


def test_split_of_a_lazily_registered_json(tmp_path):
    """A source registered in code with detectron2's register_coco_instances (class metadata set
    only while loading): its split's parts still score with the json's ids."""
    json_file, img_dir = write_user_coco(tmp_path, "lazy", [3, 5], n_images=6)
    register_coco_instances("ids_lazy", {}, json_file, img_dir)
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.SPLIT", "[['ids_lazy', 'ids_lazy_tr', 'ids_lazy_va', 0.5]]",
                                         "OUTPUT_DIR", str(tmp_path / "out")])
    register_datasets_from_config(cfg)
    assert evaluate_perfect(cfg, "ids_lazy_va")["bbox"]["AP"] == pytest.approx(100.0)
    assert MetadataCatalog.get("ids_lazy_tr").thing_dataset_id_to_contiguous_id == {3: 0, 5: 1}


def test_voc_dataset_scores_its_ground_truth(tmp_path):
    root = tmp_path / "voc"
    for d in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / d).mkdir(parents=True)
    names = ["a", "b", "c"]
    for i, n in enumerate(names):
        cv2.imwrite(str(root / "JPEGImages" / f"{n}.jpg"), np.zeros((64, 80, 3), np.uint8))
        objs = "".join(
            f"<object><name>{cls}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
            f"<bndbox><xmin>{5 + 20 * j}</xmin>"
            f"<ymin>{6 + i}</ymin><xmax>{20 + 20 * j}</xmax><ymax>{40 + i}</ymax></bndbox></object>"
            for j, cls in enumerate(["dog", "cat"][: 1 + i % 2]))
        (root / "Annotations" / f"{n}.xml").write_text(
            f"<annotation><size><width>80</width><height>64</height></size>{objs}</annotation>")
    (root / "ImageSets" / "Main" / "test.txt").write_text("\n".join(names) + "\n")
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.VOC", f"[['ids_voc_test', '{root}', 'test', 'cat,dog', 2007]]",
                                         "OUTPUT_DIR", str(tmp_path / "out")])
    register_datasets_from_config(cfg)
    res = evaluate_perfect(cfg, "ids_voc_test")
    assert res["bbox"]["AP50"] == pytest.approx(100.0)


def test_categories_of_a_large_json_are_found_without_parsing_it(tmp_path):
    """Registration reads only the categories of a large json (scan, not a full parse)."""
    json_file, _ = write_user_coco(tmp_path, "big", [2, 9], n_images=3)
    full = read_coco_categories(json_file)
    assert read_coco_categories(json_file, full_parse_bytes=0) == full == [
        {"id": 2, "name": "class2"}, {"id": 9, "name": "class9"}]
    (tmp_path / "bad.json").write_text("{not json")
    assert read_coco_categories(str(tmp_path / "bad.json")) is None
    assert read_coco_categories(str(tmp_path / "missing.json")) is None
