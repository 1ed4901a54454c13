"""A mapper for phases that learn from images alone (masked-image pre-training): it needs no
annotations, so labelled and unlabelled datasets (SCRATCHDET.DATA.UNLABELLED) both feed it."""

from __future__ import annotations

import copy

import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data import transforms as T
from PIL import Image

from ..mapper_registry import MAPPER_REGISTRY
from ..read_image import high_bit_depth_from_config, read_dataset_image
from ..transforms.random_resized_crop import RandomResizedCrop


@MAPPER_REGISTRY.register()
class ImageOnlyMapper:
    """Training: a random-resized crop to ``SCRATCHDET.MAE.IMAGE_SIZE`` (area ``CROP_SCALE``,
    aspect ``CROP_RATIO``) and a horizontal flip, as MAE's pre-training. Test: the central square,
    resized to the same size. Returns ``image`` (CHW tensor in INPUT.FORMAT), ``height``/``width``
    of the output, ``file_name`` and ``image_id``; annotations are dropped."""

    @configurable
    def __init__(self, is_train: bool, *, augmentations: list, image_format: str, high_bit_depth=None):
        self.is_train = is_train
        self.high_bit_depth = high_bit_depth
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict:
        mae = cfg.SCRATCHDET.MAE
        bicubic = Image.BICUBIC  # MAE's interpolation
        if is_train:
            augs = [RandomResizedCrop(mae.IMAGE_SIZE, tuple(mae.CROP_SCALE), tuple(mae.CROP_RATIO), bicubic),
                    T.RandomFlip(horizontal=True)]
        else:
            augs = [RandomResizedCrop(mae.IMAGE_SIZE, (1.0, 1.0), (1.0, 1.0), bicubic)]
        return {"is_train": is_train, "augmentations": augs, "image_format": cfg.INPUT.FORMAT,
                "high_bit_depth": high_bit_depth_from_config(cfg)}

    def __call__(self, dataset_dict: dict) -> dict:
        d = copy.deepcopy(dataset_dict)
        image = read_dataset_image(d, self.image_format, self.high_bit_depth)
        aug_input = T.AugInput(image)
        self.augmentations(aug_input)
        image = aug_input.image
        return {
            "image": torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1))),
            "height": image.shape[0], "width": image.shape[1],
            "file_name": d.get("file_name"), "image_id": d.get("image_id"),
        }
