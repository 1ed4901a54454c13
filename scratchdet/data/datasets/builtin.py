"""Datasets registered on import: the embedded "shapes" dataset (built on first use).

detectron2's own built-in names (coco_2017_train, voc_2007_trainval, ...) are registered by
detectron2 itself under $DETECTRON2_DATASETS.
"""

from detectron2.data import DatasetCatalog, MetadataCatalog

from .coco_json import load_checked_coco_json
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
        MetadataCatalog.get(name).set(thing_classes=list(SHAPES_CLASSES), evaluator_type="coco",
                                      shapes_split=split)
        DatasetCatalog.register(name, load)


def _point_at_files(dataset_name: str, json_file: str, image_root: str) -> None:
    """Set the dataset's json_file and image_root. Metadata refuses to change a set value, so it
    is re-created (other fields kept) when they moved."""
    meta = MetadataCatalog.get(dataset_name)
    if meta.get("json_file") == json_file:
        return
    fields = {k: v for k, v in meta.as_dict().items() if k not in ("name", "json_file", "image_root")}
    MetadataCatalog.remove(dataset_name)
    MetadataCatalog.get(dataset_name).set(json_file=json_file, image_root=image_root, **fields)


def ensure_dataset_files(dataset_name: str) -> None:
    """Build the embedded dataset's files if this name is one of them (or a split of one), and
    point its metadata at them."""
    meta = MetadataCatalog.get(dataset_name)
    source = meta.get("split_of")
    if source is not None:  # a part of another dataset (SCRATCHDET.DATA.SPLIT): its files
        ensure_dataset_files(source)
        src = MetadataCatalog.get(source)
        if src.get("json_file"):
            _point_at_files(dataset_name, src.json_file, src.image_root)
        return
    split = meta.get("shapes_split")
    if split is not None:
        root = default_shapes_root()
        _point_at_files(dataset_name, build_shapes_split(root, split), f"{root}/{split}")

_register_shapes()
