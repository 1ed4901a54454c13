import numpy as np
import pytest
from detectron2.data import MetadataCatalog
from detectron2.evaluation import COCOEvaluator, PascalVOCDetectionEvaluator

from scratchdet.config import load_config_file
from scratchdet.data.datasets import DatasetError
from scratchdet.evaluation import build_evaluator
from tests.conftest import DEMO_CONFIG


def test_evaluator_follows_evaluator_type(tmp_path):
    cfg = load_config_file(DEMO_CONFIG, ["OUTPUT_DIR", str(tmp_path)])
    assert isinstance(build_evaluator(cfg, "shapes_val"), COCOEvaluator)
    assert isinstance(build_evaluator(cfg, "voc_2007_test"), PascalVOCDetectionEvaluator)  # built-in: complete XML
    MetadataCatalog.get("odd_type_ds").set(evaluator_type="lvis_custom")
    with pytest.raises(DatasetError, match="evaluator_type='lvis_custom'"):
        build_evaluator(cfg, "odd_type_ds")


def test_fast_coco_eval_matches_pycocotools():
    """faster-coco-eval (used where detectron2's _C is missing) gives pycocotools' AP."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from scratchdet.evaluation.fast_coco import FAST_COCO_EVAL, HAS_D2_C

    if HAS_D2_C or FAST_COCO_EVAL is None:
        pytest.skip("detectron2's own fast evaluator is in use")
    rng = np.random.default_rng(0)
    images = [{"id": i, "height": 100, "width": 100} for i in range(1, 21)]
    anns, dets = [], []
    for im in images:
        for _ in range(3):
            x, y = rng.uniform(0, 60, 2)
            w, h = rng.uniform(10, 40, 2)
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": 1 + int(rng.integers(2)),
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
            j = rng.normal(0, 3, 4)
            dets.append({"image_id": im["id"], "category_id": anns[-1]["category_id"],
                         "bbox": [x + j[0], y + j[1], w + j[2], h + j[3]], "score": float(rng.uniform())})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    gt.createIndex()
    stats = []
    for fn in (COCOeval, FAST_COCO_EVAL):
        e = fn(gt, gt.loadRes(dets), "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
        stats.append(np.array(e.stats[:6]))
        assert e.eval["precision"].shape[:2] == (10, 101)
    np.testing.assert_allclose(stats[0], stats[1], atol=1e-4)
