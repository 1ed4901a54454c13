"""Augmentations for training from scratch: policies and detectron2 Augmentations/Transforms
(large-scale jitter, multi-scale, photometric jitter with hue, exact 90-degree rotations) and
the image-mixing Mosaic and Copy-Paste."""

from .copy_paste import CopyPaste, paste_instances, polygons_without_holes
from .large_scale_jitter import build_lsj_augmentations
from .mosaic import Mosaic, mosaic
from .multiscale import build_multiscale_augmentations
from .photometric import (
    HueTransform,
    RandomHue,
    RandomSaturation,
    build_photometric_augmentations,
)
from .placement import paste_image, place_annotation, placement_transforms
from .policy import POLICIES, build_augmentation_policy
from .rotate90 import RandomRot90, Rot90Transform

__all__ = [
    "POLICIES",
    "CopyPaste",
    "HueTransform",
    "Mosaic",
    "RandomHue",
    "RandomRot90",
    "RandomSaturation",
    "Rot90Transform",
    "build_augmentation_policy",
    "build_lsj_augmentations",
    "build_multiscale_augmentations",
    "build_photometric_augmentations",
    "mosaic",
    "paste_image",
    "paste_instances",
    "place_annotation",
    "placement_transforms",
    "polygons_without_holes",
]
