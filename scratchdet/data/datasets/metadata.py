"""Metadata that must be complete before a dataset is loaded: the files it points at, and the
dataset-id <-> contiguous-id map of COCO-json datasets (without it the COCO evaluator writes
contiguous ids as dataset ids and every prediction misses: AP 0)."""

from __future__ import annotations

from detectron2.data import MetadataCatalog

from .coco_json import coco_category_metadata, read_coco_categories

# Fields that describe one dataset only and are never copied to another.
_OWN_FIELDS = ("name", "shapes_split", "split_of")


def point_at_files(dataset_name: str, json_file: str, image_root: str) -> None:
    """Set the dataset's json_file and image_root. Metadata refuses to change a set value, so it
    is re-created (other fields kept) when they moved."""
    meta = MetadataCatalog.get(dataset_name)
    if meta.get("json_file") == json_file:
        return
    fields = {k: v for k, v in meta.as_dict().items() if k not in ("name", "json_file", "image_root")}
    MetadataCatalog.remove(dataset_name)
    MetadataCatalog.get(dataset_name).set(json_file=json_file, image_root=image_root, **fields)


def copy_missing_metadata(source: str, target: str) -> None:
    """Give ``target`` (a part of ``source``) the fields of ``source`` that it does not have yet,
    e.g. those the source's loader set while reading its json."""
    meta = MetadataCatalog.get(target)
    have = meta.as_dict()
    missing = {k: v for k, v in MetadataCatalog.get(source).as_dict().items()
               if k not in have and k not in _OWN_FIELDS}
    if missing:
        meta.set(**missing)


def complete_coco_metadata(dataset_name: str) -> None:
    """For a COCO-json dataset registered without its class metadata (e.g. with detectron2's
    ``register_coco_instances``, which sets it only while loading), read it from the json now."""
    meta = MetadataCatalog.get(dataset_name)
    if meta.get("evaluator_type") != "coco" or meta.get("thing_dataset_id_to_contiguous_id") is not None:
        return
    json_file = meta.get("json_file")
    cats = read_coco_categories(json_file) if json_file else None
    if cats is not None:
        have = meta.as_dict()
        meta.set(**{k: v for k, v in coco_category_metadata(cats).items() if k not in have})
