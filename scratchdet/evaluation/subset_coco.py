"""COCO evaluation of a dataset that is a part of its json (SCRATCHDET.DATA.SPLIT): only the
part's images are scored. detectron2's COCOEvaluator scores every image of the json by default,
so the other part's ground truth would count as missed objects (a perfect model on a 30% val
part would score about 30 AP)."""

from __future__ import annotations

from detectron2.data import DatasetCatalog
from detectron2.evaluation import COCOEvaluator


class SubsetCOCOEvaluator(COCOEvaluator):
    """A COCOEvaluator restricted to the image ids of ``dataset_name``'s dicts."""

    def __init__(self, dataset_name: str, **kwargs):
        super().__init__(dataset_name, **kwargs)
        self._subset_img_ids = sorted({d["image_id"] for d in DatasetCatalog.get(dataset_name)})

    def evaluate(self, img_ids=None):
        return super().evaluate(img_ids=self._subset_img_ids if img_ids is None else img_ids)
