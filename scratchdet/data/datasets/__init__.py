from . import builtin
from .builtin import ensure_dataset_files
from .coco_json import read_coco_json, register_coco_json
from .errors import DatasetError
from .from_config import register_datasets_from_config
from .shapes import SHAPES_CLASSES, build_shapes_split, make_shapes_image
from .unlabelled import load_unlabelled_images, register_unlabelled_images
from .validation import check_annotations_fit, check_dataset_dicts
from .voc_xml import register_voc_xml

__all__ = [
    "ensure_dataset_files", "read_coco_json", "register_coco_json", "DatasetError",
    "register_datasets_from_config", "SHAPES_CLASSES", "build_shapes_split", "make_shapes_image",
    "check_annotations_fit", "check_dataset_dicts", "register_voc_xml", "load_unlabelled_images",
    "register_unlabelled_images",
]
