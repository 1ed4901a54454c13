"""Place a resized image into a larger or smaller canvas at an offset that may fall partly
outside it: the geometry shared by Mosaic (four images in one canvas) and Copy-Paste (a source
image over a target image).

Written as detectron2 transforms (resize, crop to the part inside the canvas, pad to the
canvas), so annotations go through ``detection_utils.transform_instance_annotations`` like any
other augmentation: boxes clipped, polygons cut exactly, RLE masks resized and cropped.
"""

from __future__ import annotations

import numpy as np
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T


def placement_transforms(
    h: int, w: int, new_h: int, new_w: int, x0: int, y0: int, canvas_h: int, canvas_w: int
) -> T.TransformList | None:
    """Transforms that take an ``h x w`` image, resize it to ``new_h x new_w`` and put its top-left
    corner at canvas pixel ``(x0, y0)``; what falls outside the canvas is cropped.

    Returns a TransformList [resize (if the size changes), crop, pad] whose output is the canvas
    size, or None when no part of the image lands on the canvas.
    """
    cx0, cy0 = max(0, -x0), max(0, -y0)
    cx1, cy1 = min(new_w, canvas_w - x0), min(new_h, canvas_h - y0)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    tfms: list[T.Transform] = []
    if (new_h, new_w) != (h, w):
        tfms.append(T.ResizeTransform(h, w, new_h, new_w))
    cw, ch = cx1 - cx0, cy1 - cy0
    tfms.append(T.CropTransform(cx0, cy0, cw, ch, new_w, new_h))
    px0, py0 = x0 + cx0, y0 + cy0
    tfms.append(T.PadTransform(px0, py0, canvas_w - px0 - cw, canvas_h - py0 - ch, cw, ch))
    return T.TransformList(tfms)


def paste_image(canvas: np.ndarray, image: np.ndarray, placement: T.TransformList) -> np.ndarray:
    """Write the part of ``image`` that ``placement`` puts on the canvas into ``canvas`` (in
    place, also returned); the rest of the canvas keeps its pixels."""
    pad = placement.transforms[-1]
    part = T.TransformList(placement.transforms[:-1]).apply_image(image)
    canvas[pad.y0 : pad.y0 + part.shape[0], pad.x0 : pad.x0 + part.shape[1]] = part
    return canvas


def place_annotation(anno: dict, placement: T.TransformList, canvas_size: tuple[int, int]) -> dict:
    """``transform_instance_annotations`` on a copy of ``anno``: polygons are copied because
    transforms move coordinates in place, and they may already be arrays of an earlier one."""
    anno = dict(anno)
    if isinstance(anno.get("segmentation"), list):
        anno["segmentation"] = [np.array(p, dtype=float) for p in anno["segmentation"]]
    return utils.transform_instance_annotations(anno, placement, canvas_size)


def has_instance(anno: dict, box_xyxy) -> bool:
    """Whether a placed annotation still shows something: a box with area and, when it has a
    mask, a non-empty one (a polygon list or a binary mask)."""
    x0, y0, x1, y1 = box_xyxy
    if x1 <= x0 or y1 <= y0:
        return False
    segm = anno.get("segmentation")
    if isinstance(segm, list):
        return len(segm) > 0
    if isinstance(segm, np.ndarray):
        return bool(segm.any())
    return True
