"""Datasets registered from the config (SCRATCHDET.DATA.COCO / .VOC / .YOLO), so no code is needed."""

from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog

from ...config.errors import ConfigError
from .availability import check_config_datasets
from .coco_json import register_coco_json
from .split import register_split
from .unlabelled import register_unlabelled_images
from .voc_xml import register_voc_xml
from .yolo_txt import register_yolo


def register_datasets_from_config(cfg: CfgNode) -> list[str]:
    """Register every dataset listed in the config that is not registered yet; return their names."""
    names = []
    for entry in cfg.SCRATCHDET.DATA.COCO:
        if len(entry) != 3:
            raise ConfigError(f"SCRATCHDET.DATA.COCO entry {entry!r}: expected [name, json_file, image_root].")
        name, json_file, image_root = entry
        if name not in DatasetCatalog.list():
            register_coco_json(name, json_file, image_root)
        names.append(name)
    for entry in cfg.SCRATCHDET.DATA.VOC:
        if len(entry) not in (4, 5):
            raise ConfigError(f"SCRATCHDET.DATA.VOC entry {entry!r}: expected "
                              "[name, voc_root, split, 'class1,class2,...'(, year)].")
        name, dirname, split, classes = entry[:4]
        if len(entry) == 5 and entry[4] not in (2007, 2012):
            # Caught here, not by the VOC evaluator's assertion after training.
            raise ConfigError(f"SCRATCHDET.DATA.VOC entry {entry!r}: year {entry[4]!r} must be 2007 (11-point AP) "
                              "or 2012 (area under the precision-recall curve).")
        if isinstance(classes, str):
            classes = [c.strip() for c in classes.split(",") if c.strip()]
        if name not in DatasetCatalog.list():
            register_voc_xml(name, dirname, split, classes, *(entry[4:]))
        names.append(name)
    for entry in cfg.SCRATCHDET.DATA.YOLO:
        if len(entry) != 3:
            raise ConfigError(f"SCRATCHDET.DATA.YOLO entry {entry!r}: expected [name, images_folder, names], names "
                              "as 'a,b,c' or the data yaml with 'names' (the Ultralytics layout: <root>/images/<split>, "
                              "<root>/labels/<split>).")
        if entry[0] not in DatasetCatalog.list():
            register_yolo(*entry)
        names.append(entry[0])
    for entry in cfg.SCRATCHDET.DATA.SPLIT:
        if len(entry) not in (4, 5):
            raise ConfigError(f"SCRATCHDET.DATA.SPLIT entry {entry!r}: expected "
                              "[source_name, train_name, val_name, val_fraction(, seed)].")
        register_split(entry[0], entry[1], entry[2], float(entry[3]), int(entry[4]) if len(entry) > 4 else 0)
        names.extend(entry[1:3])
    for entry in cfg.SCRATCHDET.DATA.UNLABELLED:
        if len(entry) not in (2, 3):
            raise ConfigError(f"SCRATCHDET.DATA.UNLABELLED entry {entry!r}: expected [name, folder] or "
                              "[name, json_file, image_root].")
        if entry[0] not in DatasetCatalog.list():
            register_unlabelled_images(*entry)
        names.append(entry[0])
    check_config_datasets(cfg)  # DATASETS.TRAIN / TEST names registered, built-ins' files present
    return names
