"""Loading the dataset dicts a run uses, checked (files exist, boxes valid, class ids known; see
SCRATCHDET.DATA.*). The datasets are registered by the set-up step (``scratchdet.engine.setup.plan``)
before anything loads them. Shared by the trainer's loaders, the augmented mapper's image pool
(Mosaic, Copy-Paste) and jigsaw sampling."""

from __future__ import annotations

from collections.abc import Sequence

from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.data.build import filter_images_with_only_crowd_annotations, get_detection_dataset_dicts

from ..config.errors import ConfigError
from .datasets import check_annotations_fit, check_dataset_dicts
from .datasets.statistics import warn_if_detections_capped


def registered_dataset_dicts(names: Sequence[str], min_keypoints: int = 0) -> list[dict]:
    """The dicts of the registered datasets ``names`` (all images, with or without annotations)."""
    return get_detection_dataset_dicts(list(names), filter_empty=False, min_keypoints=min_keypoints)


def class_count_error(name: str, classes: Sequence[str], key: str, value: int) -> ConfigError:
    return ConfigError(f"Dataset '{name}' has {len(classes)} classes {list(classes)[:10]} but {key}={value}: "
                       f"set {key} {len(classes)}.")


def load_checked_dataset(cfg: CfgNode, names: Sequence[str], is_train: bool, *, labels_required: bool = True,
                         model_classes: tuple[str, int] | None = None, check_images: bool | None = None,
                         filter_empty: bool | None = None) -> list[dict]:
    """Dataset dicts of the registered datasets ``names``, checked.

    Args:
        model_classes: (config key, value) of the number of classes the model predicts: a
            dataset with another number is refused first, naming the key.
        labels_required: the model learns from the annotations (a detector): they must fit it
            (masks when MODEL.MASK_ON, ...) even where a dataset has none. False for models that
            predict no classes (MAE), which also take image-only sets.
        check_images: open every image (default SCRATCHDET.DATA.CHECK_IMAGES).
        filter_empty: drop images without (non-crowd) annotations (default: in training, as
            DATALOADER.FILTER_EMPTY_ANNOTATIONS says).
    """
    keypoints = cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE if is_train and cfg.MODEL.KEYPOINT_ON else 0
    # Checked before images without annotations are filtered out, so that every file is checked.
    dicts = registered_dataset_dicts(names, min_keypoints=keypoints)
    classes = MetadataCatalog.get(names[0]).get("thing_classes")
    if model_classes is not None and classes is not None and model_classes[1] != len(classes):
        raise class_count_error(names[0], classes, *model_classes)
    dicts = check_dataset_dicts(
        dicts, ",".join(names), num_classes=len(classes) if classes else None,
        on_bad=cfg.SCRATCHDET.DATA.ON_BAD_ANNOTATION,
        check_images=cfg.SCRATCHDET.DATA.CHECK_IMAGES if check_images is None else check_images,
    )
    # Image-only dicts (unlabelled sets, for phases that need no labels such as MAE) have no
    # "annotations" at all: nothing to fit or filter there, unless a detector is asked to learn from them.
    labelled = any("annotations" in d for d in dicts)
    if labelled or labels_required:
        check_annotations_fit(dicts, names, mask_on=cfg.MODEL.MASK_ON, is_train=is_train)
    warn_if_detections_capped(cfg, dicts, ",".join(names))
    if filter_empty is None:
        filter_empty = is_train and cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
    return drop_unannotated_images(dicts, filter_empty)


def drop_unannotated_images(dicts: list[dict], drop: bool) -> list[dict]:
    """``dicts`` without the images that have no non-crowd annotation, when ``drop`` (detectron2's
    DATALOADER.FILTER_EMPTY_ANNOTATIONS rule). Image-only dicts (no "annotations" key anywhere:
    an unlabelled set) are kept whole: there is nothing to filter by."""
    if drop and any("annotations" in d for d in dicts):
        return filter_images_with_only_crowd_annotations(dicts)
    return dicts
