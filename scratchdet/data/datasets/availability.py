"""Are the datasets the config names there? Each name in DATASETS.TRAIN / DATASETS.TEST must be
registered (close names are suggested), and a detectron2 built-in dataset's files must be where
detectron2 looks for them ($DETECTRON2_DATASETS)."""

from __future__ import annotations

import difflib
import os

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog

from ...config.errors import ConfigError
from .errors import DatasetError

# Metadata keys of detectron2's built-in datasets that hold their files' paths.
_FILE_KEYS = ("json_file", "dirname", "image_root", "image_dir", "gt_dir", "sem_seg_root", "panoptic_root")
BUILTIN_DOC = "https://detectron2.readthedocs.io/en/latest/tutorials/builtin_datasets.html"
# detectron2 registers its built-ins when detectron2.data is imported, before this module: what is
# registered now is built-in (also scratchdet's shapes_*, told apart by their metadata below). A
# user's register_coco_instances under ./datasets is not, wherever its files are.
BUILTIN_NAMES = frozenset(DatasetCatalog.list())


def detectron2_datasets_root() -> str:
    """Where detectron2's built-in datasets live: $DETECTRON2_DATASETS, else ./datasets."""
    return os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))


def check_registered(names: list[str] | tuple[str, ...], key: str) -> None:
    """Raise a :class:`ConfigError` naming ``key`` and suggesting close names for the first name
    that is not registered."""
    registered = DatasetCatalog.list()
    for name in names:
        if name in registered:
            continue
        close = difflib.get_close_matches(name, registered, n=3, cutoff=0.6)
        hint = (f"Did you mean {' or '.join(repr(c) for c in close)}?" if close
                else "Built-in names include shapes_train, shapes_val, coco_2017_train, voc_2007_trainval.")
        raise ConfigError(f"{key}: dataset '{name}' is not registered. {hint} Register your own data with "
                          "SCRATCHDET.DATA.COCO or SCRATCHDET.DATA.VOC (see datasets/README.md).")


def _under(path: str, root: str) -> bool:
    path, root = os.path.abspath(path), os.path.abspath(root)
    return os.path.commonpath([path, root]) == root


def check_builtin_files(name: str) -> None:
    """Raise a :class:`DatasetError` saying where the files are expected when ``name`` is one of
    detectron2's built-in datasets and its files are absent, or naming the missing file of a
    dataset registered in the user's code."""
    meta = MetadataCatalog.get(name)
    if meta.get("shapes_split") is not None or meta.get("split_of") is not None:
        return  # the embedded dataset (built on first use) and splits of a dataset
    if meta.get("registered_by") == "scratchdet":
        return  # a user's dataset (SCRATCHDET.DATA.COCO/VOC): its loader names the missing file
    root = detectron2_datasets_root()
    for key in _FILE_KEYS:
        path = meta.get(key)
        if not isinstance(path, str) or not path or "://" in path or os.path.exists(path):
            continue  # remote paths (s3://, ...) are read through PathManager: not checked here
        if name not in BUILTIN_NAMES:
            raise DatasetError(
                f"Dataset '{name}': its {key} {path} does not exist (full path {os.path.abspath(path)}). "
                "Correct the path where the dataset is registered in your code, or register it with "
                "SCRATCHDET.DATA.COCO / SCRATCHDET.DATA.VOC (see datasets/README.md).")
        if not _under(path, root):
            continue
        where = ("$DETECTRON2_DATASETS is unset, so ./datasets" if "DETECTRON2_DATASETS" not in os.environ
                 else f"$DETECTRON2_DATASETS={os.environ['DETECTRON2_DATASETS']}")
        raise DatasetError(
            f"Dataset '{name}' is a detectron2 built-in dataset, but {path} (its {key}) does not exist "
            f"({where}; full path {os.path.abspath(path)}). Put the dataset there as in {BUILTIN_DOC}, or "
            "start with DETECTRON2_DATASETS=/path/to/datasets set to the folder that holds it, or register "
            "your copy under another name with SCRATCHDET.DATA.COCO / SCRATCHDET.DATA.VOC."
        )


def check_config_datasets(cfg: CfgNode) -> None:
    """Every dataset of DATASETS.TRAIN and DATASETS.TEST is registered and, for detectron2's
    built-ins, present: checked before training, so a missing test set is not found after it."""
    for key, names in (("DATASETS.TRAIN", cfg.DATASETS.TRAIN), ("DATASETS.TEST", cfg.DATASETS.TEST)):
        check_registered(names, key)
        for name in names:
            check_builtin_files(name)
