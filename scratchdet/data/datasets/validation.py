"""Checks on dataset dicts (any source) before training or evaluation: image files exist, boxes
lie inside their image and have a size, class indices are known, the annotations fit the model."""

from __future__ import annotations

import logging
import os

import numpy as np
from detectron2.data import MetadataCatalog
from detectron2.structures import BoxMode

from .errors import DatasetError

logger = logging.getLogger(__name__)
# Boxes may stick out of the image by this many pixels (rounding in annotation tools).
BORDER_TOLERANCE = 1.0


def _box_problem(box: np.ndarray, w: float, h: float) -> str | None:
    x0, y0, x1, y1 = box
    if not np.all(np.isfinite(box)):
        return "has a non-finite coordinate"
    if x1 <= x0 or y1 <= y0:
        return "has zero or negative size"
    t = BORDER_TOLERANCE
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
        return f"lies entirely outside the {w:g}x{h:g} image"
    if x0 < -t or y0 < -t or x1 > w + t or y1 > h + t:
        return f"extends outside the {w:g}x{h:g} image"
    return None


def check_dataset_dicts(
    dicts: list[dict], dataset_name: str, num_classes: int | None = None,
    on_bad: str = "error", check_images: bool = True,
) -> list[dict]:
    """Return the dicts, checked. With ``on_bad="error"`` the first problems are reported in one
    :class:`DatasetError` naming files and fixes; with ``"drop"`` bad annotations are removed
    (boxes sticking out are clipped) and the number removed is logged."""
    missing = [d["file_name"] for d in dicts if check_images and not os.path.isfile(d["file_name"])]
    if missing:
        raise DatasetError(
            f"Dataset '{dataset_name}': {len(missing)} image file(s) do not exist, e.g. {missing[:3]}. "
            "Check the image root you registered (or $DETECTRON2_DATASETS), or remove those images "
            "from the annotation file."
        )
    problems: list[str] = []
    n_dropped = n_clipped = 0
    for d in dicts:
        if "annotations" not in d:
            continue
        w, h = d.get("width"), d.get("height")
        kept = []
        for a in d["annotations"]:
            box = np.asarray(BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS), dtype=np.float64)
            problem = None
            cls = a.get("category_id")
            if num_classes is not None and not (0 <= cls < num_classes):
                problem = f"has class index {cls}, outside the model's {num_classes} classes"
            elif w is not None and h is not None:
                problem = _box_problem(box, w, h)
            else:
                problem = None if box[2] > box[0] and box[3] > box[1] else "has zero or negative size"
            if problem is None:
                kept.append(a)
            elif on_bad == "drop" and problem.startswith("extends outside"):
                a = dict(a, bbox=np.clip(box, 0, [w, h, w, h]).tolist(), bbox_mode=BoxMode.XYXY_ABS)
                kept.append(a)
                n_clipped += 1
            else:
                n_dropped += 1
                problems.append(f"{d['file_name']}: box {box.round(1).tolist()} {problem}")
        d["annotations"] = kept
    if problems and on_bad == "error":
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise DatasetError(
            f"Dataset '{dataset_name}' has {len(problems)} bad annotation(s){more}:\n  "
            + "\n  ".join(problems[:5])
            + "\nFix the annotation file, or set SCRATCHDET.DATA.ON_BAD_ANNOTATION drop to remove them "
            "(boxes that only stick out are then clipped)."
        )
    if n_dropped or n_clipped:
        logger.warning(f"Dataset '{dataset_name}': dropped {n_dropped} bad annotation(s), clipped {n_clipped} box(es).")
    return dicts


def dataset_source(name: str) -> str:
    """The annotation file (or VOC folder) a dataset was read from, for messages."""
    meta = MetadataCatalog.get(name)
    return meta.get("json_file") or meta.get("dirname") or f"dataset '{name}'"


def check_annotations_fit(dicts: list[dict], names: list[str] | tuple[str, ...], mask_on: bool, is_train: bool) -> None:
    """The annotations can train (or evaluate) the configured model: a training set has at least
    one object, and a mask model (MODEL.MASK_ON) gets masks ('segmentation') for every object."""
    sources = ", ".join(dataset_source(n) for n in names)
    objects = [(d, a) for d in dicts for a in d.get("annotations", []) if not a.get("iscrowd", 0)]
    if is_train and not objects:
        raise DatasetError(
            f"{sources}: no annotations at all ({len(dicts)} image(s), 0 objects): there is nothing to train on. "
            "Annotate the images (or point DATASETS.TRAIN at the annotated file); to get predictions on "
            "unlabelled images, run a trained model with detectron2's DefaultPredictor (demo/demo.py) instead."
        )
    if not mask_on or not objects:
        return
    without = [d["file_name"] for d, a in objects if not a.get("segmentation")]
    if len(without) == len(objects):
        raise DatasetError(
            f"{sources}: the annotations have boxes but no masks ('segmentation'), and MODEL.MASK_ON is True "
            f"(dataset(s) {', '.join(names)}): set MODEL.MASK_ON False to train a box-only detector."
        )
    if without:
        raise DatasetError(
            f"{sources}: {len(without)} of {len(objects)} objects have no mask ('segmentation'), e.g. in "
            f"{without[0]}, and MODEL.MASK_ON is True: add their masks, or set MODEL.MASK_ON False."
        )
