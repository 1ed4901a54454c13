"""The SSD data augmentation as a mapper (Liu et al. 2016, as ScratchDet trains with it).

Training, in SSD's order: photometric distortion (brightness, contrast, saturation, hue, each
with probability ``INPUT.SSD.PHOTOMETRIC_PROB``), zoom-out onto a mean-filled canvas, min-IoU
random crop, horizontal flip (``INPUT.RANDOM_FLIP``), resize to ``MODEL.SSD.IMAGE_SIZE`` squares.
Boxes whose centres leave the image (the crop) are dropped, the others clipped to it; masks and
keypoints are dropped (SSD detects boxes). Test: the resize only.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import Boxes, BoxMode, Instances

from ..mapper_registry import MAPPER_REGISTRY
from ..read_image import high_bit_depth_from_config
from ..transforms.min_iou_crop import MinIoURandomCrop, box_centres_inside
from ..transforms.photometric import build_photometric_augmentations
from ..transforms.zoom_out import RandomExpand
from .dataset_mapper import DatasetMapper

__all__ = ["SSDMapper", "build_ssd_augmentations", "keep_boxes_by_centre"]


def build_ssd_augmentations(cfg: CfgNode, is_train: bool) -> list[T.Augmentation]:
    """SSD's augmentation list (training) or its fixed-size resize (test)."""
    size = cfg.MODEL.SSD.IMAGE_SIZE
    resize = T.Resize((size, size))
    if not is_train:
        return [resize]
    a = cfg.INPUT.SSD
    augs: list[T.Augmentation] = []
    if a.PHOTOMETRIC_PROB > 0:
        photometric = build_photometric_augmentations(a.BRIGHTNESS, a.CONTRAST, a.SATURATION, a.HUE, cfg.INPUT.FORMAT)
        augs += [T.RandomApply(p, a.PHOTOMETRIC_PROB) for p in photometric]
    if a.EXPAND_PROB > 0 and a.EXPAND_MAX_RATIO > 1:
        # The mean in the image's channel order (detectron2's PIXEL_MEAN is in INPUT.FORMAT's).
        augs.append(RandomExpand(a.EXPAND_MAX_RATIO, fill=list(cfg.MODEL.PIXEL_MEAN), prob=a.EXPAND_PROB))
    if len(a.CROP_MIN_IOUS):
        augs.append(MinIoURandomCrop(a.CROP_MIN_IOUS, a.CROP_MIN_SCALE))
    if cfg.INPUT.RANDOM_FLIP != "none":
        augs.append(T.RandomFlip(horizontal=cfg.INPUT.RANDOM_FLIP == "horizontal",
                                 vertical=cfg.INPUT.RANDOM_FLIP == "vertical"))
    return augs + [resize]


def keep_boxes_by_centre(boxes: np.ndarray, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """SSD's rule after the crop: a box is kept when its centre is inside the image, and clipped
    to it. Returns the clipped (N, 4) XYXY boxes and the (N,) bool mask of those kept."""
    h, w = image_shape
    keep = box_centres_inside(boxes, 0, 0, w, h)
    return boxes.clip(0, [w, h, w, h]), keep


@MAPPER_REGISTRY.register()
class SSDMapper(DatasetMapper):
    """detectron2's DatasetMapper with SSD's augmentation (see the module docstring). Outputs
    "image" (CHW, ``MODEL.SSD.IMAGE_SIZE`` square) and, for training, "instances" (gt_boxes,
    gt_classes); "height"/"width" stay the original size, for detector_postprocess."""

    @configurable
    def __init__(self, is_train: bool, *, augmentations: list, image_format: str, **kwargs):
        # SSD needs no masks or keypoints: they are never loaded.
        kwargs.update(use_instance_mask=False, use_keypoint=False, recompute_boxes=False)
        super().__init__(is_train, augmentations=augmentations, image_format=image_format, **kwargs)

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict:
        return {
            "is_train": is_train,
            "augmentations": build_ssd_augmentations(cfg, is_train),
            "image_format": cfg.INPUT.FORMAT,
            "high_bit_depth": high_bit_depth_from_config(cfg),
        }

    def __call__(self, dataset_dict: dict) -> dict:
        dataset_dict = copy.deepcopy(dataset_dict)
        image = self.read_image(dataset_dict)
        annos = [a for a in dataset_dict.pop("annotations", []) if a.get("iscrowd", 0) == 0]
        boxes = np.array(
            [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annos], dtype=np.float64
        ).reshape(-1, 4)
        # The crop reads the boxes (its IoU and centre conditions).
        aug_input = T.AugInput(image, boxes=boxes)
        self.augmentations(aug_input)
        image = aug_input.image
        image_shape = image.shape[:2]
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if not self.is_train:
            return dataset_dict
        # The boxes went through the same transforms as the image (AugInput applies them).
        boxes, keep = keep_boxes_by_centre(aug_input.boxes.reshape(-1, 4), image_shape)
        instances = Instances(image_shape)
        instances.gt_boxes = Boxes(torch.as_tensor(boxes[keep], dtype=torch.float32))
        instances.gt_classes = torch.as_tensor([a["category_id"] for a, k in zip(annos, keep) if k], dtype=torch.int64)
        dataset_dict["instances"] = utils.filter_empty_instances(instances)
        return dataset_dict
