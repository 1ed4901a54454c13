"""VOC AP on the dataset's own dicts: the same figures as detectron2's evaluator where its XML
reader works, and a figure (not a crash) where it does not (no <pose>/<truncated>/<difficult>,
float coordinates), and no NaN from a class absent in the test set."""

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.evaluation import PascalVOCDetectionEvaluator
from detectron2.structures import Boxes, BoxMode, Instances

from scratchdet.config import load_config_file
from scratchdet.config.errors import ConfigError
from scratchdet.data.datasets import register_datasets_from_config
from scratchdet.evaluation import build_evaluator
from scratchdet.evaluation.voc_detection import VOCDetectionEvaluator, voc_class_ap
from tests.conftest import DEMO_CONFIG

CLASSES = ["cat", "dog"]


def _write_voc(root, objects_per_image, complete=True):
    """A VOC folder: ``objects_per_image`` is a list (one per image) of (class, xyxy, difficult)."""
    for d in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / d).mkdir(parents=True)
    ids = []
    for i, objs in enumerate(objects_per_image):
        ids.append(f"im{i}")
        cv2.imwrite(str(root / "JPEGImages" / f"im{i}.jpg"), np.zeros((96, 128, 3), np.uint8))
        xml = []
        for cls, (x0, y0, x1, y1), difficult in objs:
            extra = f"<pose>Unspecified</pose><truncated>0</truncated><difficult>{difficult}</difficult>" if complete else ""
            coords = (f"{x0}", f"{y0}", f"{x1}", f"{y1}") if complete else (f"{x0}.5", f"{y0}.0", f"{x1}.5", f"{y1}.0")
            xml.append(f"<object><name>{cls}</name>{extra}<bndbox><xmin>{coords[0]}</xmin><ymin>{coords[1]}</ymin>"
                       f"<xmax>{coords[2]}</xmax><ymax>{coords[3]}</ymax></bndbox></object>")
        (root / "Annotations" / f"im{i}.xml").write_text(
            f"<annotation><size><width>128</width><height>96</height></size>{''.join(xml)}</annotation>")
    (root / "ImageSets" / "Main" / "test.txt").write_text("\n".join(ids) + "\n")


def _random_objects(rng, n_images=8):
    out = []
    for _ in range(n_images):
        objs = []
        for _ in range(rng.integers(0, 4)):
            x0, y0 = rng.integers(1, 70), rng.integers(1, 50)
            objs.append((CLASSES[rng.integers(0, 2)], (x0, y0, x0 + rng.integers(8, 50), y0 + rng.integers(8, 40)),
                         int(rng.random() < 0.2)))
        out.append(objs)
    return out


def _register(tmp_path, name, objects, year=2012, complete=True):
    root = tmp_path / name
    _write_voc(root, objects, complete)
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.VOC", f"[['{name}', '{root}', 'test', 'cat,dog', {year}]]",
                                         "OUTPUT_DIR", str(tmp_path / "out")])
    register_datasets_from_config(cfg)
    return cfg


def _noisy_predictions(dicts, rng):
    """The ground truth jittered, some dropped, plus false positives, with random scores."""
    inputs, outputs = [], []
    for d in dicts:
        boxes, classes = [], []
        for a in d["annotations"]:
            if rng.random() < 0.8:
                b = np.array(BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)) + rng.normal(0, 3, 4)
                boxes.append(b.tolist())
                classes.append(a["category_id"])
        for _ in range(rng.integers(0, 3)):
            x0, y0 = rng.uniform(0, 80), rng.uniform(0, 60)
            boxes.append([x0, y0, x0 + 20, y0 + 20])
            classes.append(int(rng.integers(0, 2)))
        inst = Instances((d["height"], d["width"]))
        inst.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        inst.scores = torch.tensor(rng.random(len(boxes)), dtype=torch.float32)
        inst.pred_classes = torch.tensor(classes, dtype=torch.int64)
        inputs.append({"image_id": d["image_id"]})
        outputs.append({"instances": inst})
    return inputs, outputs


def _evaluate(evaluator, inputs, outputs):
    evaluator.reset()
    evaluator.process(inputs, outputs)
    return evaluator.evaluate()


@pytest.mark.parametrize("year", [2007, 2012])
def test_same_ap_as_detectron2_on_complete_xml(tmp_path, year):
    rng = np.random.default_rng(year)
    objects = _random_objects(rng)
    objects[0].append(("cat", (10, 10, 40, 40), 0))  # both classes present
    objects[1].append(("dog", (50, 20, 90, 60), 1))
    objects[2].append(("dog", (20, 30, 60, 70), 0))
    name = f"vocdet_same_{year}"
    cfg = _register(tmp_path, name, objects, year)
    evaluator = build_evaluator(cfg, name)
    assert isinstance(evaluator, VOCDetectionEvaluator)
    inputs, outputs = _noisy_predictions(DatasetCatalog.get(name), rng)
    ours = _evaluate(evaluator, inputs, outputs)["bbox"]
    theirs = _evaluate(PascalVOCDetectionEvaluator(name), inputs, outputs)["bbox"]
    assert 5 < ours["AP50"] < 100  # an informative case, not 0 or perfect
    for k in ("AP", "AP50", "AP75"):
        assert ours[k] == pytest.approx(theirs[k], abs=1e-6), k


def test_labelling_tool_xml_is_scored_where_detectron2_crashes(tmp_path):
    objects = [[("cat", (10, 10, 40, 40), 0)], [("dog", (50, 20, 90, 60), 0), ("cat", (5, 50, 30, 80), 0)]]
    name = "vocdet_tool_xml"
    cfg = _register(tmp_path, name, objects, complete=False)
    dicts = DatasetCatalog.get(name)
    inputs, outputs = [], []
    for d in dicts:
        inst = Instances((d["height"], d["width"]))
        inst.pred_boxes = Boxes(torch.tensor([a["bbox"] for a in d["annotations"]], dtype=torch.float32))
        inst.scores = torch.ones(len(d["annotations"]))
        inst.pred_classes = torch.tensor([a["category_id"] for a in d["annotations"]])
        inputs.append({"image_id": d["image_id"]})
        outputs.append({"instances": inst})
    with pytest.raises((AttributeError, ValueError)):  # detectron2's parse_rec: no <pose>, int("10.5")
        _evaluate(PascalVOCDetectionEvaluator(name), inputs, outputs)
    assert _evaluate(build_evaluator(cfg, name), inputs, outputs)["bbox"]["AP"] == pytest.approx(100.0)


def test_class_without_ground_truth_is_left_out_not_nan(tmp_path, caplog):
    name = "vocdet_one_class"
    cfg = _register(tmp_path, name, [[("cat", (10, 10, 40, 40), 0)]])
    d = DatasetCatalog.get(name)[0]
    inst = Instances((96, 128))
    inst.pred_boxes = Boxes(torch.tensor([[9.0, 9.0, 40.0, 40.0], [60.0, 10.0, 90.0, 40.0]]))
    inst.scores = torch.tensor([0.9, 0.8])
    inst.pred_classes = torch.tensor([0, 1])  # a dog that is not there
    res = _evaluate(build_evaluator(cfg, name), [{"image_id": d["image_id"]}], [{"instances": inst}])["bbox"]
    assert res["AP50"] == pytest.approx(100.0)
    assert "['dog']" in caplog.text


def test_class_ap_by_hand():
    gt = {"a": (np.array([[1.0, 1.0, 10.0, 10.0]]), np.array([False])),
          "b": (np.array([[1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]]), np.array([False, True]))}
    dets = [("a", 0.9, [50.0, 50.0, 60.0, 60.0]),   # false positive, ranked first
            ("a", 0.8, [1.0, 1.0, 10.0, 10.0]),     # true positive: recall 0.5 at precision 0.5
            ("b", 0.7, [20.0, 20.0, 30.0, 30.0]),   # matches a difficult object: ignored
            ("b", 0.6, [1.0, 1.0, 10.0, 10.0]),     # true positive: recall 1.0 at precision 2/3
            ("b", 0.5, [1.0, 1.0, 10.0, 10.0])]     # duplicate: false positive
    # VOC2012 (area under the interpolated curve): precision 2/3 up to recall 1.0.
    assert voc_class_ap(dets, gt, 0.5, use_07_metric=False) == pytest.approx(2 / 3)
    # VOC2007, 11 points: max precision at recall >= t is 2/3 for all t in 0..1.
    assert voc_class_ap(dets, gt, 0.5, use_07_metric=True) == pytest.approx(2 / 3)
    assert voc_class_ap(dets, {"a": (np.zeros((0, 4)), np.zeros(0, bool))}) is None


def test_unknown_voc_year_is_a_config_error(tmp_path):
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.VOC", f"[['vocdet_year', '{tmp_path}', 'test', 'cat', 2010]]"])
    with pytest.raises(ConfigError, match="year 2010 must be 2007"):
        register_datasets_from_config(cfg)


def test_split_of_a_voc_folder_scores_each_part_on_its_images(tmp_path):
    objects = [[("cat", (10, 10, 40, 40), 0)], [("dog", (50, 20, 90, 60), 0)], [("cat", (5, 50, 30, 80), 0)],
               [("dog", (20, 30, 60, 70), 0)], [("cat", (60, 10, 100, 50), 0)]]
    root = tmp_path / "vocsplit"
    _write_voc(root, objects)
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.DATA.VOC", f"[['vocsplit', '{root}', 'test', 'cat,dog']]",
                                         "SCRATCHDET.DATA.SPLIT", "[['vocsplit', 'vocsplit_tr', 'vocsplit_va', 0.4, 0]]",
                                         "OUTPUT_DIR", str(tmp_path / "out")])
    register_datasets_from_config(cfg)
    val = DatasetCatalog.get("vocsplit_va")
    assert len(val) == 2 and len(DatasetCatalog.get("vocsplit_tr")) == 3
    inputs, outputs = [], []
    for d in val:  # perfect predictions on the val part only: AP 100 if only its images are scored
        inst = Instances((d["height"], d["width"]))
        inst.pred_boxes = Boxes(torch.tensor([BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)
                                              for a in d["annotations"]], dtype=torch.float32))
        inst.scores = torch.ones(len(d["annotations"]))
        inst.pred_classes = torch.tensor([a["category_id"] for a in d["annotations"]])
        inputs.append({"image_id": d["image_id"]})
        outputs.append({"instances": inst})
    assert _evaluate(build_evaluator(cfg, "vocsplit_va"), inputs, outputs)["bbox"]["AP"] == pytest.approx(100.0)
