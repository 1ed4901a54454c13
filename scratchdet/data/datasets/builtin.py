"""Datasets registered on import: the embedded "shapes" dataset (built on first use).

detectron2's own built-in names (coco_2017_train, voc_2007_trainval, ...) are registered by
detectron2 itself under $DETECTRON2_DATASETS.
"""

from detectron2.data import DatasetCatalog, MetadataCatalog

from .coco_json import load_checked_coco_json
from .metadata import complete_coco_metadata, copy_missing_metadata, point_at_files
from .shapes import SHAPES_CLASSES, SHAPES_SPLITS, build_shapes_split, default_shapes_root


def _register_shapes() -> None:
    for split in SHAPES_SPLITS:
        name = f"shapes_{split}"
        if name in DatasetCatalog.list():
            continue

        def load(split=split, name=name):
            root = default_shapes_root()
            return load_checked_coco_json(build_shapes_split(root, split), f"{root}/{split}", name)

        # json_file is only known once built: evaluation calls ensure_dataset_files() first.
        MetadataCatalog.get(name).set(
            thing_classes=list(SHAPES_CLASSES), evaluator_type="coco", shapes_split=split,
            thing_dataset_id_to_contiguous_id={i + 1: i for i in range(len(SHAPES_CLASSES))})
        DatasetCatalog.register(name, load)


def ensure_dataset_files(dataset_name: str) -> None:
    """Build the embedded dataset's files if this name is one of them (or a split of one), point
    its metadata at them, and complete the class metadata a COCO evaluator needs (a split gets
    its source's)."""
    meta = MetadataCatalog.get(dataset_name)
    source = meta.get("split_of")
    if source is not None:  # a part of another dataset (SCRATCHDET.DATA.SPLIT): its files and ids
        ensure_dataset_files(source)
        src = MetadataCatalog.get(source)
        if src.get("json_file"):
            point_at_files(dataset_name, src.json_file, src.image_root)
        copy_missing_metadata(source, dataset_name)
        return
    split = meta.get("shapes_split")
    if split is not None:
        root = default_shapes_root()
        point_at_files(dataset_name, build_shapes_split(root, split), f"{root}/{split}")
    complete_coco_metadata(dataset_name)

_register_shapes()
