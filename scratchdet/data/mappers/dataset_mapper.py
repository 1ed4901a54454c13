"""detectron2's DatasetMapper, registered by name, with image read errors that name the file."""

from __future__ import annotations

import detectron2.data as d2data

from ..mapper_registry import MAPPER_REGISTRY
from ..read_image import image_read_error


@MAPPER_REGISTRY.register()
class DatasetMapper(d2data.DatasetMapper):
    """detectron2's default mapper (resize, flip, annotations to Instances). A missing or corrupt
    image raises a :class:`DatasetError` naming the file instead of a bare PIL/OS error. Mappers
    of scratchdet subclass this one."""

    def __call__(self, dataset_dict: dict) -> dict:
        try:
            return super().__call__(dataset_dict)
        except (OSError, SyntaxError) as e:  # PIL raises OSError (UnidentifiedImageError) or SyntaxError
            raise image_read_error(dataset_dict.get("file_name"), e) from e

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
