"""Loading the dataset dicts a run uses: the datasets the config declares are registered (the
one place that does it), their files looked for, and their dicts checked (files exist, boxes
valid, classes known; see SCRATCHDET.DATA.*). Shared by the trainer's loaders, the augmented
mapper's image pool (Mosaic, Copy-Paste) and jigsaw sampling."""

from __future__ import annotations

from collections.abc import Sequence

from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.data.build import filter_images_with_only_crowd_annotations, get_detection_dataset_dicts

from ..config.errors import ConfigError
from ..config.num_classes import model_num_classes
from .datasets import check_annotations_fit, check_dataset_dicts, ensure_dataset_files, register_datasets_from_config
from .datasets.statistics import warn_if_detections_capped


def registered_dataset_dicts(cfg: CfgNode, names: Sequence[str], min_keypoints: int = 0) -> list[dict]:
    """The dicts of ``names`` (all images, with or without annotations), after registering the
    datasets of the config and checking that the builtin ones' files are where expected."""
    register_datasets_from_config(cfg)
    for name in names:
        ensure_dataset_files(name)
    return get_detection_dataset_dicts(list(names), filter_empty=False, min_keypoints=min_keypoints)


def check_model_num_classes(cfg: CfgNode, dataset_name: str) -> list[str] | None:
    """The dataset's thing_classes; :class:`ConfigError` when the model predicts another number."""
    classes = MetadataCatalog.get(dataset_name).get("thing_classes")
    configured = model_num_classes(cfg)
    if classes is not None and configured is not None and configured[1] != len(classes):
        raise ConfigError(
            f"Dataset '{dataset_name}' has {len(classes)} classes {classes[:10]} but {configured[0]}="
            f"{configured[1]}: set {configured[0]} {len(classes)}."
        )
    return classes


def load_checked_dataset(cfg: CfgNode, names: Sequence[str], is_train: bool, *,
                         check_images: bool | None = None, filter_empty: bool | None = None) -> list[dict]:
    """Dataset dicts of ``names``, registered from the config if needed and checked.

    Args:
        check_images: open every image (default SCRATCHDET.DATA.CHECK_IMAGES).
        filter_empty: drop images without (non-crowd) annotations (default: in training, as
            DATALOADER.FILTER_EMPTY_ANNOTATIONS says).
    """
    keypoints = cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE if is_train and cfg.MODEL.KEYPOINT_ON else 0
    # Checked before images without annotations are filtered out, so that every file is checked.
    dicts = registered_dataset_dicts(cfg, names, min_keypoints=keypoints)
    classes = check_model_num_classes(cfg, names[0])
    dicts = check_dataset_dicts(
        dicts, ",".join(names), num_classes=len(classes) if classes else None,
        on_bad=cfg.SCRATCHDET.DATA.ON_BAD_ANNOTATION,
        check_images=cfg.SCRATCHDET.DATA.CHECK_IMAGES if check_images is None else check_images,
    )
    # Image-only dicts (unlabelled sets, for phases that need no labels such as MAE) have no
    # "annotations" at all: nothing to fit or filter there, unless a detector is asked to learn from them.
    labelled = any("annotations" in d for d in dicts)
    if labelled or model_num_classes(cfg) is not None:
        check_annotations_fit(dicts, names, mask_on=cfg.MODEL.MASK_ON, is_train=is_train)
    warn_if_detections_capped(cfg, dicts, ",".join(names))
    if filter_empty is None:
        filter_empty = is_train and cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
    if filter_empty and labelled:
        dicts = filter_images_with_only_crowd_annotations(dicts)
    return dicts
