"""COCO-json datasets: validation of the file with messages that name it, and registration."""

from __future__ import annotations

import json
import logging
import mmap
import os
import re
from collections import Counter

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_coco_json

from .errors import DatasetError

logger = logging.getLogger(__name__)


def read_coco_json(json_file: str) -> dict:
    """Read and structurally check a COCO annotation file; raise :class:`DatasetError` naming the
    file and the problem (not valid json, missing sections, unknown ids)."""
    if not os.path.isfile(json_file):
        raise DatasetError(f"Annotation file not found: {json_file}. Check the path you registered.")
    try:
        with open(json_file) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DatasetError(
            f"{json_file} is not valid json (line {e.lineno}, column {e.colno}: {e.msg}). "
            "Fix the file or re-export it as COCO json."
        ) from None
    if not isinstance(data, dict):
        raise DatasetError(f"{json_file} is not COCO json: the top level must be an object with "
                           "'images', 'annotations' and 'categories'.")
    missing = [k for k in ("images", "annotations", "categories") if k not in data]
    if missing:
        raise DatasetError(f"{json_file} is not COCO json: it has no {', '.join(repr(m) for m in missing)} "
                           "section. COCO json needs 'images', 'annotations' and 'categories'.")
    if not data["categories"]:
        raise DatasetError(f"{json_file} has an empty 'categories' list: list every class with its id and name.")
    _check_unique_ids(json_file, data)
    cat_ids = {c["id"] for c in data["categories"]}
    img_ids = {im["id"] for im in data["images"]}
    bad_cat = sorted({a.get("category_id") for a in data["annotations"]} - cat_ids, key=str)
    if bad_cat:
        raise DatasetError(
            f"{json_file}: annotations use category_id {bad_cat[:10]} which are not in 'categories' "
            f"(known ids: {sorted(cat_ids)[:20]}). Add those categories or remove the annotations."
        )
    bad_img = sorted({a.get("image_id") for a in data["annotations"]} - img_ids, key=str)
    if bad_img:
        raise DatasetError(f"{json_file}: annotations refer to image_id {bad_img[:10]} which are not in 'images'.")
    for a in data["annotations"]:
        if "bbox" not in a or len(a["bbox"]) != 4:
            raise DatasetError(f"{json_file}: annotation id {a.get('id')} has no 4-number 'bbox' [x, y, w, h].")
    return data


def _repeated(values: list) -> list:
    """The values that occur more than once, in order of first occurrence."""
    return [v for v, n in Counter(values).items() if n > 1]


def _check_unique_ids(json_file: str, data: dict) -> None:
    """Image ids and annotation ids must be unique (pycocotools indexes by id: a repeated image id
    keeps one of the images and gives it the other's boxes; a repeated annotation id loses
    annotations in evaluation). A file listed twice under two ids is only warned about."""
    for key in ("images", "annotations", "categories"):
        if not isinstance(data[key], list) or not all(isinstance(x, dict) for x in data[key]):
            raise DatasetError(f"{json_file} is not COCO json: '{key}' must be a list of objects.")
    for key in ("images", "annotations"):
        missing = [i for i, x in enumerate(data[key]) if "id" not in x]
        if missing:
            raise DatasetError(f"{json_file}: {len(missing)} entries of '{key}' have no 'id' (e.g. entry "
                               f"{missing[0]}): give each a unique id.")
    dup = _repeated([im["id"] for im in data["images"]])
    if dup:
        files = {i: [im.get("file_name") for im in data["images"] if im["id"] == i] for i in dup[:3]}
        examples = "; ".join(f"id {i}: {', '.join(map(str, f))}" for i, f in files.items())
        raise DatasetError(
            f"{json_file}: {len(dup)} image id(s) are used by more than one image ({examples}). "
            "One of them would be dropped and its boxes attached to the other: give each image its own "
            "id, and make each annotation's image_id point at the right one."
        )
    dup = _repeated([a["id"] for a in data["annotations"]])
    if dup:
        raise DatasetError(
            f"{json_file}: {len(dup)} annotation id(s) are used more than once (e.g. {dup[:5]}). Refused: "
            "evaluation indexes annotations by id and would lose some. Renumber the annotations' 'id' "
            "(nothing else refers to them)."
        )
    dup = _repeated([im.get("file_name") for im in data["images"]])
    if dup:
        logger.warning(f"{json_file}: {len(dup)} image file(s) are listed more than once under different ids "
                       f"(e.g. {dup[:3]}): they are used once per listing. Merge them if that is not intended.")


def load_checked_coco_json(json_file: str, image_root: str, dataset_name: str) -> list[dict]:
    """``load_coco_json`` after :func:`read_coco_json`'s checks."""
    read_coco_json(json_file)
    return load_coco_json(json_file, image_root, dataset_name)


# Above this size the categories are found by a scan of the file instead of parsing all of it
# (COCO's train2017 json is 450 MB; its categories are a few kB at the end).
_FULL_PARSE_BYTES = 64 << 20
_CATEGORIES_KEY = re.compile(rb'"categories"\s*:\s*\[')


def read_coco_categories(json_file: str, full_parse_bytes: int = _FULL_PARSE_BYTES) -> list[dict] | None:
    """The ``categories`` list of a COCO json, or None if the file cannot be read as such (the
    loader then reports the problem, naming the file)."""
    try:
        if os.path.getsize(json_file) <= full_parse_bytes:
            with open(json_file) as f:
                cats = json.load(f).get("categories")
        else:
            cats = None
            with open(json_file, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                for m in _CATEGORIES_KEY.finditer(mm):
                    start = m.end() - 1
                    # The list is short: decode a window after the key, widening it if it is cut.
                    for size in (1 << 16, 1 << 20, 1 << 24):
                        text = mm[start:start + size].decode("utf-8", errors="replace")
                        try:
                            cats = json.JSONDecoder().raw_decode(text)[0]
                            break
                        except json.JSONDecodeError:
                            continue
        if isinstance(cats, list) and cats and all(isinstance(c, dict) and "id" in c and "name" in c for c in cats):
            return cats
    except (OSError, ValueError, AttributeError):
        pass
    return None


def coco_category_metadata(categories: list[dict]) -> dict:
    """thing_classes and thing_dataset_id_to_contiguous_id exactly as detectron2's
    ``load_coco_json`` sets them while loading (classes in the order of their sorted ids)."""
    ids = sorted({c["id"] for c in categories})
    names = {c["id"]: c["name"] for c in categories}
    return {"thing_classes": [names[i] for i in ids],
            "thing_dataset_id_to_contiguous_id": {i: k for k, i in enumerate(ids)}}


def register_coco_json(name: str, json_file: str, image_root: str, **metadata) -> None:
    """Register a COCO-json dataset by name (like detectron2's ``register_coco_instances``, with the
    file checked when the dataset is first loaded). Class names and the dataset-id <-> contiguous-id
    map come from the file's categories, read now: anything that copies or reads the metadata
    before the dataset is loaded (a split, the evaluator, a model sized by its classes) sees them."""
    DatasetCatalog.register(name, lambda: load_checked_coco_json(json_file, image_root, name))
    cats = read_coco_categories(json_file)
    if cats is not None:
        metadata = {**coco_category_metadata(cats), **metadata}
    # registered_by: not one of detectron2's built-ins, whatever folder its files are in.
    MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="coco",
                                  registered_by="scratchdet", **metadata)
