"""The evaluator of a dataset, chosen from its metadata's ``evaluator_type``."""

from __future__ import annotations

import os

from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.evaluation import COCOEvaluator, DatasetEvaluator, PascalVOCDetectionEvaluator

from ..data.datasets.errors import DatasetError
from . import fast_coco  # noqa: F401  (uses faster-coco-eval where detectron2's _C is missing)
from .jigsaw_accuracy import JigsawEvaluator
from .subset_coco import SubsetCOCOEvaluator
from .voc_detection import VOCDetectionEvaluator


def build_evaluator(cfg: CfgNode, dataset_name: str, output_folder: str | None = None) -> DatasetEvaluator:
    """The evaluator of a dataset whose files the set-up step prepared (``engine.plan``)."""
    if cfg.SCRATCHDET.DATA.TEST_MAPPER == "JigsawMapper":  # jigsaw canvases: classification accuracy
        return JigsawEvaluator()
    output_folder = output_folder or os.path.join(cfg.OUTPUT_DIR, "inference")
    meta = MetadataCatalog.get(dataset_name)
    evaluator_type = meta.get("evaluator_type")
    if evaluator_type == "coco" and meta.get("split_of") is not None:  # a part of its json
        return SubsetCOCOEvaluator(dataset_name, output_dir=output_folder)
    if evaluator_type in ("coco", "coco_panoptic_seg"):
        return COCOEvaluator(dataset_name, output_dir=output_folder)
    if evaluator_type == "pascal_voc":
        # Datasets of SCRATCHDET.DATA.VOC carry <difficult> in their dicts and are scored on them;
        # detectron2's built-in VOC splits (complete XML, no difficult flag in the dicts) by its own.
        if meta.get("difficult_in_dicts"):
            return VOCDetectionEvaluator(dataset_name)
        return PascalVOCDetectionEvaluator(dataset_name)
    raise DatasetError(
        f"Dataset '{dataset_name}' has evaluator_type={evaluator_type!r}; scratchdet evaluates 'coco' and "
        "'pascal_voc' datasets. Register it with SCRATCHDET.DATA.COCO or SCRATCHDET.DATA.VOC, or set "
        f"MetadataCatalog.get('{dataset_name}').evaluator_type."
    )
