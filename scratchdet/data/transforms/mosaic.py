"""Mosaic (Bochkovskiy et al., YOLOv4, 2020): four training images in one canvas.

Each image is resized so that its longer side is ``size`` and the four meet at a random center
of a ``2 size x 2 size`` canvas: the first image ends at the center (top-left), the second
starts right of it (top-right), the third below it (bottom-left), the fourth at it
(bottom-right). Parts beyond the canvas are cropped; the cells never overlap, so instances are
only shifted, scaled and cut at the canvas border. The result is one image with annotations in
canvas coordinates, to which the usual geometric policy then applies (as the mmdetection and
YOLO pipelines follow Mosaic with a random affine or resize).
"""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_util

from .placement import has_instance, paste_image, place_annotation, placement_transforms


def mosaic(
    images: list[np.ndarray],
    annos_list: list[list[dict]],
    size: int,
    center: tuple[int, int],
    pad_value: float = 128.0,
) -> tuple[np.ndarray, list[dict]]:
    """Assemble four images (and their detectron2 annotation dicts) into a ``2 size`` square
    canvas whose four cells meet at ``center`` = (x, y). Returns the canvas and the annotations
    in its coordinates (XYXY_ABS boxes; polygons cut at the canvas border; RLE masks stay RLE,
    so the result can be transformed again like a dataset dict's annotations)."""
    if len(images) != 4 or len(annos_list) != 4:
        raise ValueError(f"Mosaic takes 4 images, got {len(images)}.")
    side = 2 * size
    xc, yc = int(center[0]), int(center[1])
    first = images[0]
    canvas = np.full((side, side) + first.shape[2:], pad_value, dtype=first.dtype)
    out: list[dict] = []
    for i, (image, annos) in enumerate(zip(images, annos_list)):
        h, w = image.shape[:2]
        r = size / max(h, w)
        nh, nw = max(1, round(h * r)), max(1, round(w * r))
        x0 = xc - nw if i in (0, 2) else xc  # left cells end at the center, right ones start there
        y0 = yc - nh if i in (0, 1) else yc
        placement = placement_transforms(h, w, nh, nw, x0, y0, side, side)
        if placement is None:
            continue
        paste_image(canvas, image, placement)
        for anno in annos:
            anno = place_annotation(anno, placement, (side, side))
            if not has_instance(anno, anno["bbox"]):  # bbox is XYXY_ABS after the transform
                continue
            if isinstance(anno.get("segmentation"), np.ndarray):
                # transform_instance_annotations decodes RLE to an array, which the next
                # transform_instance_annotations would not accept: back to RLE.
                anno["segmentation"] = mask_util.encode(np.asfortranarray(anno["segmentation"].astype(np.uint8)))
            out.append(anno)
    return canvas, out


class Mosaic:
    """Draw the mosaic center uniformly in ``center_range * size`` along each axis and apply
    :func:`mosaic`. ``size`` 0: the longer side of the first image."""

    def __init__(self, size: int = 0, center_range: tuple[float, float] = (0.5, 1.5), pad_value: float = 128.0):
        if size < 0:
            raise ValueError(f"Mosaic size must be >= 0, got {size}.")
        if not 0 <= center_range[0] <= center_range[1] <= 2:
            raise ValueError(f"Mosaic center range must satisfy 0 <= min <= max <= 2, got {center_range}.")
        self.size = size
        self.center_range = tuple(center_range)
        self.pad_value = pad_value

    def __call__(
        self, images: list[np.ndarray], annos_list: list[list[dict]], rng: np.random.Generator
    ) -> tuple[np.ndarray, list[dict]]:
        s = self.size or max(images[0].shape[:2])
        lo, hi = self.center_range
        center = (int(rng.uniform(lo * s, hi * s)), int(rng.uniform(lo * s, hi * s)))
        return mosaic(images, annos_list, s, center, self.pad_value)

    def __repr__(self) -> str:
        return f"Mosaic(size={self.size}, center_range={self.center_range}, pad_value={self.pad_value})"
