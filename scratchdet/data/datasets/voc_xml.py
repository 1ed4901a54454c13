"""VOC-XML datasets with any class list, registered without code. Read by our own loader (the
same dicts as detectron2's ``load_voc_instances``) so that every problem names the XML file, the
object and the field."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from .errors import DatasetError

COORDS = ("xmin", "ymin", "xmax", "ymax")


def _text(node: ET.Element, path: str, xml_file: str, where: str) -> str:
    child = node.find(path)
    if child is None or child.text is None or not child.text.strip():
        raise DatasetError(f"{xml_file}: {where} has no <{path}>. Every VOC annotation needs "
                           "<size><width>/<height> and, per <object>, <name> and <bndbox> with xmin ymin xmax ymax.")
    return child.text.strip()


def _number(node: ET.Element, path: str, xml_file: str, where: str) -> float:
    text = _text(node, path, xml_file, where)
    try:
        return float(text)
    except ValueError:
        raise DatasetError(f"{xml_file}: {where}: <{path}> is '{text}', not a number. "
                           "Fix the coordinate in that file.") from None


def parse_voc_xml(xml_file: str, image_file: str, image_id: str, class_names: list[str]) -> dict:
    """One image's dataset dict from its VOC XML file (coordinates are 1-based pixel indices:
    xmin/ymin are shifted by one, as detectron2 does)."""
    try:
        root = ET.parse(xml_file).getroot()
    except ET.ParseError as e:
        raise DatasetError(f"{xml_file}: not valid XML ({e}). Fix or re-export the file.") from None
    size = root.find("size")
    if size is None:
        raise DatasetError(f"{xml_file}: no <size> (with <width> and <height>): add the image size.")
    record = {"file_name": image_file, "image_id": image_id,
              "height": int(_number(size, "height", xml_file, "<size>")),
              "width": int(_number(size, "width", xml_file, "<size>"))}
    annotations = []
    for i, obj in enumerate(root.findall("object")):
        name = _text(obj, "name", xml_file, f"object {i + 1}")
        where = f"object {i + 1} ('{name}')"
        if name not in class_names:
            raise DatasetError(f"{xml_file}: {where}: class '{name}' is not among the registered classes "
                               f"{class_names}: add it to the class list, or fix the name.")
        box = obj.find("bndbox")
        if box is None:
            raise DatasetError(f"{xml_file}: {where} has no <bndbox>: add xmin ymin xmax ymax.")
        x0, y0, x1, y1 = (_number(box, c, xml_file, f"{where} <bndbox>") for c in COORDS)
        # We include "difficult" objects in training, as detectron2 does; VOC's AP ignores them
        # (an absent <difficult> is 0, as labelling tools often leave it out).
        difficult = obj.find("difficult")
        annotations.append({"category_id": class_names.index(name), "bbox": [x0 - 1.0, y0 - 1.0, x1, y1],
                            "bbox_mode": BoxMode.XYXY_ABS,
                            "difficult": int(difficult is not None and (difficult.text or "0").strip() == "1")})
    record["annotations"] = annotations
    return record


def load_checked_voc(dirname: str, split: str, class_names: list[str]) -> list[dict]:
    split_file = os.path.join(dirname, "ImageSets", "Main", split + ".txt")
    if not os.path.isfile(split_file):
        raise DatasetError(f"VOC split file not found: {split_file}. A VOC dataset needs "
                           "Annotations/, JPEGImages/ and ImageSets/Main/<split>.txt under its root.")
    with open(split_file) as f:
        ids = [line.split()[0] for line in f if line.strip()]
    dicts = []
    for image_id in ids:
        xml_file = os.path.join(dirname, "Annotations", image_id + ".xml")
        if not os.path.isfile(xml_file):
            raise DatasetError(f"{xml_file} not found: every id in {split_file} needs "
                               "Annotations/<id>.xml and JPEGImages/<id>.jpg.")
        dicts.append(parse_voc_xml(xml_file, os.path.join(dirname, "JPEGImages", image_id + ".jpg"), image_id,
                                   class_names))
    return dicts


def register_voc_xml(name: str, dirname: str, split: str, class_names: list[str], year: int = 2012) -> None:
    """Register a VOC-format dataset; it is evaluated with detectron2's VOC metric on these dicts
    (scratchdet.evaluation.voc_detection; ``year`` 2007 selects the 11-point AP of VOC2007)."""
    class_names = list(class_names)
    DatasetCatalog.register(name, lambda: load_checked_voc(dirname, split, class_names))
    MetadataCatalog.get(name).set(thing_classes=class_names, dirname=dirname, year=year, split=split,
                                  evaluator_type="pascal_voc", difficult_in_dicts=True,
                                  registered_by="scratchdet")
