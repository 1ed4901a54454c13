"""VOC-XML datasets with any class list, registered without code."""

from __future__ import annotations

import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets.pascal_voc import load_voc_instances

from .errors import DatasetError


def load_checked_voc(dirname: str, split: str, class_names: list[str]) -> list[dict]:
    split_file = os.path.join(dirname, "ImageSets", "Main", split + ".txt")
    if not os.path.isfile(split_file):
        raise DatasetError(f"VOC split file not found: {split_file}. A VOC dataset needs "
                           "Annotations/, JPEGImages/ and ImageSets/Main/<split>.txt under its root.")
    try:
        return load_voc_instances(dirname, split, class_names)
    except ValueError as e:  # list.index: a class in the XML that is not in the class list
        raise DatasetError(f"VOC dataset {dirname} ({split}): {e}. An object's <name> is not among the "
                           f"registered classes {class_names}; add it to the class list.") from None
    except FileNotFoundError as e:
        raise DatasetError(f"VOC dataset {dirname} ({split}): {e}. Every id in {split_file} needs "
                           "Annotations/<id>.xml and JPEGImages/<id>.jpg.") from None


def register_voc_xml(name: str, dirname: str, split: str, class_names: list[str], year: int = 2012) -> None:
    """Register a VOC-format dataset; it is evaluated with detectron2's VOC evaluator
    (``year`` 2007 selects the 11-point AP of VOC2007)."""
    class_names = list(class_names)
    DatasetCatalog.register(name, lambda: load_checked_voc(dirname, split, class_names))
    MetadataCatalog.get(name).set(thing_classes=class_names, dirname=dirname, year=year, split=split,
                                  evaluator_type="pascal_voc")
