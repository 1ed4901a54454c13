"""VOC detection AP (detectron2's ``PascalVOCDetectionEvaluator`` metric) on the ground truth of
the registered dataset, not on a second reading of its XML files.

detectron2's evaluator re-reads every XML with its own ``parse_rec``, which needs <pose>,
<truncated> and <difficult> in every object and integer coordinates: XML written by many
labelling tools (no <pose>, float coordinates) trains, then crashes at the first evaluation.
Here the ground truth is the dataset's own dicts (read once, by the loader that names the file
of any problem), <difficult> is optional (0 when absent), and a class without any ground truth
in the test set is left out of the mean (with a log line) instead of making it NaN. The AP
computation is detectron2's: the same matching (VOC's +1 pixel areas), ``voc_ap``, thresholds
0.50:0.05:0.95, the 11-point AP for ``year`` 2007.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict

import numpy as np
from detectron2.data import DatasetCatalog
from detectron2.evaluation import PascalVOCDetectionEvaluator
from detectron2.evaluation.pascal_voc_evaluation import voc_ap
from detectron2.structures import BoxMode
from detectron2.utils import comm

__all__ = ["VOCDetectionEvaluator", "voc_class_ap"]

logger = logging.getLogger(__name__)


def _iou_voc(box: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of one XYXY box with (N, 4) boxes, VOC's inclusive-pixel convention (+1)."""
    iw = np.maximum(np.minimum(gt[:, 2], box[2]) - np.maximum(gt[:, 0], box[0]) + 1.0, 0.0)
    ih = np.maximum(np.minimum(gt[:, 3], box[3]) - np.maximum(gt[:, 1], box[1]) + 1.0, 0.0)
    inter = iw * ih
    union = ((box[2] - box[0] + 1.0) * (box[3] - box[1] + 1.0)
             + (gt[:, 2] - gt[:, 0] + 1.0) * (gt[:, 3] - gt[:, 1] + 1.0) - inter)
    return inter / union


def voc_class_ap(detections: list[tuple[str, float, list[float]]],
                 ground_truth: dict[str, tuple[np.ndarray, np.ndarray]],
                 iou_thresh: float = 0.5, use_07_metric: bool = False) -> float | None:
    """AP of one class: ``detections`` are (image id, score, XYXY box in VOC's 1-based pixels),
    ``ground_truth`` maps every test image id to ((N, 4) boxes, (N,) bool difficult). None when
    the class has no non-difficult ground truth (its AP is undefined)."""
    npos = sum(int((~difficult).sum()) for _, difficult in ground_truth.values())
    if npos == 0:
        return None
    taken = {k: np.zeros(len(b), bool) for k, (b, _) in ground_truth.items()}
    order = sorted(range(len(detections)), key=lambda i: -detections[i][1])
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for rank, i in enumerate(order):
        image_id, _, box = detections[i]
        boxes, difficult = ground_truth.get(image_id, (np.zeros((0, 4)), np.zeros(0, bool)))
        if len(boxes) == 0:
            fp[rank] = 1.0
            continue
        overlaps = _iou_voc(np.asarray(box, float), boxes)
        j = int(np.argmax(overlaps))
        if overlaps[j] <= iou_thresh:
            fp[rank] = 1.0
        elif not difficult[j]:  # a match with a difficult object counts neither way
            if taken[image_id][j]:
                fp[rank] = 1.0
            else:
                tp[rank], taken[image_id][j] = 1.0, True
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return float(voc_ap(tp / npos, prec, use_07_metric))


class VOCDetectionEvaluator(PascalVOCDetectionEvaluator):
    """detectron2's VOC evaluator (same predictions, same metric, same result keys), scored
    against the registered dataset's dicts; see the module doc."""

    def _ground_truth(self) -> dict[int, dict[str, tuple[np.ndarray, np.ndarray]]]:
        per_class: dict[int, dict[str, list]] = defaultdict(dict)
        for d in DatasetCatalog.get(self._dataset_name):
            image_id = str(d["image_id"])
            rows: dict[int, list] = defaultdict(list)
            for a in d.get("annotations", []):
                x0, y0, x1, y1 = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
                # The loader shifted xmin/ymin by -1 (detectron2's convention); undo it as the
                # predictions are (PascalVOCDetectionEvaluator.process adds 1).
                rows[a["category_id"]].append(([x0 + 1.0, y0 + 1.0, x1, y1], bool(a.get("difficult", 0))))
            for c in range(len(self._class_names)):
                objs = rows.get(c, [])
                per_class[c][image_id] = (np.array([b for b, _ in objs], float).reshape(-1, 4),
                                          np.array([f for _, f in objs], bool))
        return per_class

    def evaluate(self):
        all_predictions = comm.gather(self._predictions, dst=0)
        if not comm.is_main_process():
            return None
        predictions: dict[int, list[tuple[str, float, list[float]]]] = defaultdict(list)
        for per_rank in all_predictions:
            for cls_id, lines in per_rank.items():
                for line in lines:  # "image_id score xmin ymin xmax ymax", as process() writes them
                    image_id, score, *box = line.split(" ")
                    predictions[cls_id].append((image_id, float(score), [float(v) for v in box]))
        ground_truth = self._ground_truth()
        logger.info(f"Evaluating {self._dataset_name} with the VOC{2007 if self._is_2007 else 2012} metric "
                    "on the dataset's own ground truth.")
        aps: dict[int, list[float]] = defaultdict(list)
        missing = []
        for cls_id, name in enumerate(self._class_names):
            for thresh in range(50, 100, 5):
                ap = voc_class_ap(predictions.get(cls_id, []), ground_truth[cls_id], thresh / 100.0, self._is_2007)
                if ap is None:
                    missing.append(name)
                    break
                aps[thresh].append(ap * 100)
        if missing:
            logger.warning(f"{self._dataset_name}: no (non-difficult) ground truth of {missing}; those classes "
                           "are left out of the mean AP.")
        if not aps:
            logger.warning(f"{self._dataset_name}: no ground truth of any class; no AP to report.")
            return OrderedDict()
        mean = {t: float(np.mean(v)) for t, v in aps.items()}
        return OrderedDict(bbox={"AP": float(np.mean(list(mean.values()))), "AP50": mean[50], "AP75": mean[75]})
