"""detectron2's DatasetMapper, registered by name, reading images with scratchdet's reader
(errors that name the file; images of more than 8 bits scaled, SCRATCHDET.DATA.HIGH_BIT_DEPTH)."""

from __future__ import annotations

import copy

import detectron2.data as d2data
import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from ..mapper_registry import MAPPER_REGISTRY
from ..read_image import HighBitDepth, high_bit_depth_from_config, image_read_error, read_dataset_image


@MAPPER_REGISTRY.register()
class DatasetMapper(d2data.DatasetMapper):
    """detectron2's default mapper (resize, flip, annotations to Instances). Images are read by
    :func:`read_dataset_image`: a missing, corrupt, blank or wrongly sized image raises a
    :class:`DatasetError` naming the file. Mappers of scratchdet subclass this one."""

    @configurable
    def __init__(self, is_train: bool, *, high_bit_depth: HighBitDepth | None = None, **kwargs):
        super().__init__(is_train, **kwargs)
        self.high_bit_depth = high_bit_depth or HighBitDepth()

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True) -> dict:
        ret = super().from_config(cfg, is_train)
        ret["high_bit_depth"] = high_bit_depth_from_config(cfg)
        return ret

    def read_image(self, dataset_dict: dict) -> np.ndarray:
        return read_dataset_image(dataset_dict, self.image_format, self.high_bit_depth)

    def __call__(self, dataset_dict: dict) -> dict:
        # detectron2's DatasetMapper.__call__, with the image read by read_image above.
        dataset_dict = copy.deepcopy(dataset_dict)
        image = self.read_image(dataset_dict)
        sem_seg = None
        if "sem_seg_file_name" in dataset_dict:
            sem_seg_file = dataset_dict.pop("sem_seg_file_name")
            try:
                sem_seg = utils.read_image(sem_seg_file, "L").squeeze(2)
            except (OSError, SyntaxError) as e:
                raise image_read_error(sem_seg_file, e) from e
        aug_input = T.AugInput(image, sem_seg=sem_seg)
        transforms = self.augmentations(aug_input)
        image, sem_seg = aug_input.image, aug_input.sem_seg
        image_shape = image.shape[:2]
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if sem_seg is not None:
            dataset_dict["sem_seg"] = torch.as_tensor(sem_seg.astype("long"))
        if self.proposal_topk is not None:
            utils.transform_proposals(dataset_dict, image_shape, transforms, proposal_topk=self.proposal_topk)
        if not self.is_train:
            dataset_dict.pop("annotations", None)
            return dataset_dict
        if "annotations" in dataset_dict:
            self._transform_annotations(dataset_dict, transforms, image_shape)
        return dataset_dict

    def _transform_annotations(self, dataset_dict: dict, transforms, image_shape) -> None:
        # fvcore's transforms scale coordinates in place: integer boxes or polygons (common in
        # hand-made annotations) would be truncated. Give them float coordinates first.
        for anno in dataset_dict.get("annotations", []):
            anno["bbox"] = [float(v) for v in anno["bbox"]]
            segm = anno.get("segmentation")
            if isinstance(segm, list):
                anno["segmentation"] = [[float(v) for v in poly] for poly in segm]
        if self.recompute_boxes and not any(a.get("iscrowd", 0) == 0 for a in dataset_dict.get("annotations", [])):
            # detectron2 recomputes boxes from gt_masks, which an image without instances lacks.
            self.recompute_boxes = False
            try:
                return super()._transform_annotations(dataset_dict, transforms, image_shape)
            finally:
                self.recompute_boxes = True
        super()._transform_annotations(dataset_dict, transforms, image_shape)
