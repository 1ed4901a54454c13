"""YOLO-format datasets (the Ultralytics layout) registered without code:
``<root>/images/<split>/*.jpg`` with ``<root>/labels/<split>/*.txt`` beside them (the last
``images`` of the path replaced by ``labels``), one line per object, ``class cx cy w h``,
normalised to the image size; an image without a label file has no objects. Class names come
from a list or from the data yaml's ``names`` (a list or an ``{id: name}`` mapping)."""

from __future__ import annotations

import os

import yaml
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from PIL import Image

from .errors import DatasetError
from .unlabelled import IMAGE_EXTENSIONS


def class_names(names: str | list) -> list[str]:
    """``names``: a list, "a,b,c", or the path of a data yaml with ``names``."""
    if isinstance(names, (list, tuple)):
        return [str(n) for n in names]
    if str(names).endswith((".yaml", ".yml")):
        if not os.path.isfile(names):
            raise DatasetError(f"YOLO data yaml {names} not found: give the file with 'names', or the names as 'a,b,c'.")
        with open(names) as f:
            data = yaml.safe_load(f) or {}
        got = data.get("names")
        if isinstance(got, dict):
            keys = sorted(int(k) for k in got)
            if keys != list(range(len(keys))):
                raise DatasetError(f"{names}: 'names' ids must be 0..N-1, got {keys[:10]}.")
            return [str(got[k]) for k in keys]
        if isinstance(got, list) and got:
            return [str(n) for n in got]
        raise DatasetError(f"{names}: no 'names' list or mapping in it.")
    out = [n.strip() for n in str(names).split(",") if n.strip()]
    if not out:
        raise DatasetError("YOLO dataset without class names: give 'a,b,c' or a data yaml with 'names'.")
    return out


def labels_dir(images_dir: str) -> str:
    """Ultralytics' rule: the last path component named ``images`` becomes ``labels``."""
    parts = os.path.normpath(images_dir).split(os.sep)
    if "images" not in parts:
        raise DatasetError(f"YOLO images folder {images_dir}: its path has no 'images' component to find "
                           "'labels' beside it (the layout is <root>/images/<split> and <root>/labels/<split>).")
    k = len(parts) - 1 - parts[::-1].index("images")
    parts[k] = "labels"
    return os.sep.join(parts)


def parse_yolo_labels(label_file: str, width: int, height: int, num_classes: int) -> list[dict]:
    """The annotations of one label file (XYXY absolute boxes); every problem names file and line."""
    annos = []
    with open(label_file) as f:
        for n, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 5:
                if len(fields) > 5 and (len(fields) - 1) % 2 == 0:
                    raise DatasetError(f"{label_file}:{n}: a polygon (segmentation) line; scratchdet reads YOLO "
                                       "detection labels 'class cx cy w h'.")
                raise DatasetError(f"{label_file}:{n}: expected 'class cx cy w h' (5 numbers), got {line.strip()!r}.")
            try:
                cls, cx, cy, w, h = int(fields[0]), *(float(v) for v in fields[1:])
            except ValueError:
                raise DatasetError(f"{label_file}:{n}: {line.strip()!r} is not 'class cx cy w h' numbers.") from None
            if not 0 <= cls < num_classes:
                raise DatasetError(f"{label_file}:{n}: class {cls} is not among the {num_classes} names (0..{num_classes - 1}).")
            annos.append({"bbox": [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height],
                          "bbox_mode": BoxMode.XYXY_ABS, "category_id": cls, "iscrowd": 0})
    return annos


def load_yolo(images_dir: str, names: list[str]) -> list[dict]:
    if not os.path.isdir(images_dir):
        raise DatasetError(f"YOLO images folder {images_dir} not found (SCRATCHDET.DATA.YOLO).")
    labels = labels_dir(images_dir)
    files = sorted(os.path.join(r, f) for r, _, fs in os.walk(images_dir) for f in fs if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise DatasetError(f"YOLO images folder {images_dir} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
    dicts = []
    for i, file_name in enumerate(files):
        try:
            with Image.open(file_name) as im:  # the header only
                width, height = im.size
        except OSError as e:
            raise DatasetError(f"Cannot read image {file_name}: {e}. Replace or remove it.") from e
        rel = os.path.splitext(os.path.relpath(file_name, images_dir))[0]
        label_file = os.path.join(labels, rel + ".txt")
        annos = parse_yolo_labels(label_file, width, height, len(names)) if os.path.isfile(label_file) else []
        dicts.append({"file_name": file_name, "image_id": i, "height": height, "width": width, "annotations": annos})
    return dicts


def register_yolo(name: str, images_dir: str, names: str | list) -> None:
    """Register a YOLO dataset, evaluated with COCO AP (its dicts converted by detectron2's
    COCOEvaluator; category ids are the YOLO class indices)."""
    classes = class_names(names)
    DatasetCatalog.register(name, lambda: load_yolo(images_dir, classes))
    MetadataCatalog.get(name).set(thing_classes=classes, evaluator_type="coco", registered_by="scratchdet",
                                  thing_dataset_id_to_contiguous_id={i: i for i in range(len(classes))},
                                  image_root=images_dir)
