"""Number of classes derived from the config and the registered datasets (used by models and
data alike, so it lives with the config)."""

from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog

from .checks import ConfigError


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
