"""Numbers of classes read from the config (or, when the config leaves it to the data, from the
training dataset's metadata in detectron2's catalog)."""

from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog

from .errors import ConfigError


def model_num_classes(cfg: CfgNode) -> tuple[str, int] | None:
    """(config key, value) of the number of classes the configured detector predicts."""
    arch = cfg.MODEL.META_ARCHITECTURE
    if arch in ("GeneralizedRCNN", "PanopticFPN"):
        return "MODEL.ROI_HEADS.NUM_CLASSES", cfg.MODEL.ROI_HEADS.NUM_CLASSES
    if arch in ("RetinaNet", "FCOS"):  # scratchdet's FCOS (DEYO's stage 1) reads RetinaNet's keys
        return "MODEL.RETINANET.NUM_CLASSES", cfg.MODEL.RETINANET.NUM_CLASSES
    if arch == "ScratchDetSSD":
        return "MODEL.SSD.NUM_CLASSES", cfg.MODEL.SSD.NUM_CLASSES
    if arch == "DEYODetector" and cfg.SCRATCHDET.DEYO.NUM_CLASSES > 0:  # 0: taken from the dataset
        return "SCRATCHDET.DEYO.NUM_CLASSES", cfg.SCRATCHDET.DEYO.NUM_CLASSES
    return None


def jigsaw_num_classes(cfg: CfgNode) -> int:
    """SCRATCHDET.JIGSAW.NUM_CLASSES, or the number of thing_classes of DATASETS.TRAIN[0]."""
    if cfg.SCRATCHDET.JIGSAW.NUM_CLASSES > 0:
        return int(cfg.SCRATCHDET.JIGSAW.NUM_CLASSES)
    if not cfg.DATASETS.TRAIN:
        raise ConfigError("SCRATCHDET.JIGSAW.NUM_CLASSES is 0 and DATASETS.TRAIN is empty: set one of them.")
    name = cfg.DATASETS.TRAIN[0]
    classes = getattr(MetadataCatalog.get(name), "thing_classes", None)
    if classes is None and name in DatasetCatalog.list():
        DatasetCatalog.get(name)  # COCO-json loaders set thing_classes while loading
        classes = getattr(MetadataCatalog.get(name), "thing_classes", None)
    if classes is None:
        raise ConfigError(f"Dataset '{name}' has no thing_classes metadata: set SCRATCHDET.JIGSAW.NUM_CLASSES.")
    return len(classes)
