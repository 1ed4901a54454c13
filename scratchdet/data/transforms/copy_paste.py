"""Copy-Paste (Ghiasi et al., "Simple Copy-Paste is a Strong Data Augmentation Method for
Instance Segmentation", CVPR 2021): a random subset of another image's instances, cut by their
masks (by their boxes on box-only data), pasted over the image at a random scale and position.

The image's own instances are updated for what the pasted ones hide: their masks lose the
covered part, their boxes shrink to the visible part, and those left with less than a given
fraction of their area are dropped (fully hidden ones always are).

Annotations are detectron2 annotation dicts after ``transform_instance_annotations`` (bbox in
XYXY_ABS; segmentation absent, polygons, an RLE dict or a binary HxW array). Polygons stay
polygons, computed exactly with shapely; RLE and arrays are handled as binary masks.
"""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_util
import shapely
from detectron2.structures import BoxMode
from detectron2.structures.masks import polygons_to_bitmask
from shapely.geometry import LineString, Polygon
from shapely.geometry import box as shapely_box
from shapely.ops import split, unary_union

from .placement import has_instance, paste_image, place_annotation, placement_transforms


def _bbox_xyxy(anno: dict) -> np.ndarray:
    return np.asarray(BoxMode.convert(list(anno["bbox"]), anno["bbox_mode"], BoxMode.XYXY_ABS), float)


def _geometry(anno: dict, use_masks: bool):
    """The instance's region as a valid shapely geometry: its polygons, else its box."""
    if use_masks:
        polys = [Polygon(np.asarray(p, float).reshape(-1, 2)) for p in anno["segmentation"] if len(p) >= 6]
        # buffer(0) repairs self-intersecting annotation polygons, as fvcore's crop does.
        return unary_union([p.buffer(0) for p in polys]) if polys else Polygon()
    return shapely_box(*_bbox_xyxy(anno))


def _polygons(geom) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom] if geom.area > 0 else []
    return [p for g in getattr(geom, "geoms", []) for p in _polygons(g)]


def polygons_without_holes(geom) -> list[np.ndarray]:
    """The geometry's area as flat [x0, y0, x1, y1, ...] polygons without holes (COCO polygons
    cannot hold a hole: their union is rasterised). A polygon with a hole (a small instance
    pasted inside a large one) is split by a vertical line through the hole until none is left;
    the pieces still cover exactly the visible area."""
    out = []
    todo = _polygons(geom)
    while todo:
        poly = todo.pop()
        if not poly.interiors:
            out.append(np.asarray(poly.exterior.coords[:-1], float).reshape(-1))
            continue
        hx0, _, hx1, _ = poly.interiors[0].bounds
        _, y0, _, y1 = poly.bounds
        x = (hx0 + hx1) / 2  # strictly inside the hole's x-extent: the line crosses the hole
        pieces = _polygons(split(poly, LineString([(x, y0 - 1), (x, y1 + 1)])))
        if len(pieces) < 2:  # numerically unsplittable: keep the outline (the hole is filled)
            pieces = [Polygon(poly.exterior)]
        todo.extend(pieces)
    return out


def _bitmask(segm, h: int, w: int) -> np.ndarray:
    if isinstance(segm, list):
        return polygons_to_bitmask([np.asarray(p, float) for p in segm], h, w) if segm else np.zeros((h, w), bool)
    if isinstance(segm, dict):
        if isinstance(segm["counts"], list):  # uncompressed RLE
            segm = mask_util.frPyObjects(segm, *segm["size"])
        return mask_util.decode(segm).astype(bool)
    return np.asarray(segm).astype(bool)


def paste_instances(
    image: np.ndarray,
    annos: list[dict],
    src_image: np.ndarray,
    src_annos: list[dict],
    scale: float = 1.0,
    offset: tuple[int, int] = (0, 0),
    min_visible_fraction: float = 0.0,
) -> tuple[np.ndarray, list[dict]]:
    """Paste ``src_annos`` (instances of ``src_image``) over ``image``: the source image is
    resized by ``scale`` and its top-left corner put at pixel ``offset`` = (x, y) of the image.

    Returns the new image and its annotations: the image's own instances, updated for occlusion
    (dropped when their visible fraction is below ``min_visible_fraction`` or zero), followed by
    the pasted ones. The inputs are not modified.
    """
    h, w = image.shape[:2]
    sh, sw = src_image.shape[:2]
    nh, nw = max(1, round(sh * scale)), max(1, round(sw * scale))
    placement = placement_transforms(sh, sw, nh, nw, int(offset[0]), int(offset[1]), h, w)
    if placement is None:
        return image, annos
    pasted = [place_annotation(a, placement, (h, w)) for a in src_annos]
    pasted = [a for a in pasted if has_instance(a, _bbox_xyxy(a))]
    if not pasted:
        return image, annos

    everything = annos + pasted
    use_masks = any("segmentation" in a for a in everything)
    if use_masks and not all("segmentation" in a for a in everything):
        raise ValueError("Copy-Paste needs a segmentation on every instance, or on none (box-only data).")
    as_polygons = not use_masks or all(isinstance(a["segmentation"], list) for a in everything)

    # The pasted region: what the source pixels replace, and what the image's instances lose.
    if as_polygons:
        pasted_geom = unary_union([_geometry(a, use_masks) for a in pasted])
        alpha = np.zeros((h, w), bool)
        for poly in polygons_without_holes(pasted_geom):
            alpha |= polygons_to_bitmask([poly], h, w)
    else:
        alpha = np.zeros((h, w), bool)
        for a in pasted:
            alpha |= _bitmask(a["segmentation"], h, w)

    src_canvas = paste_image(image.copy(), src_image, placement)
    out_image = image.copy()
    out_image[alpha] = src_canvas[alpha]

    kept = []
    for anno in annos:
        anno = dict(anno)  # the update below replaces fields, it does not edit them
        if as_polygons:
            geom = _geometry(anno, use_masks)
            area = geom.area
            visible = geom.difference(pasted_geom)
            if area > 0 and visible.area >= area * (1 - 1e-9):  # not covered at all
                kept.append(anno)
                continue
            if area <= 0 or visible.area <= 0 or visible.area < min_visible_fraction * area:
                continue
            anno["bbox"] = list(shapely.bounds(visible))
            if use_masks:
                anno["segmentation"] = polygons_without_holes(visible)
        else:
            mask = _bitmask(anno["segmentation"], h, w)
            area = int(mask.sum())
            visible = mask & ~alpha
            vis_area = int(visible.sum())
            if vis_area == area and area > 0:
                kept.append(anno)
                continue
            if vis_area == 0 or vis_area < min_visible_fraction * area:
                continue
            ys, xs = np.nonzero(visible)
            anno["bbox"] = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
            anno["segmentation"] = visible.astype(np.uint8)
        anno["bbox_mode"] = BoxMode.XYXY_ABS
        kept.append(anno)
    return out_image, kept + pasted


class CopyPaste:
    """Draw the Copy-Paste parameters and apply :func:`paste_instances`: a non-empty random
    subset of the source instances, a scale uniform in ``scale_range`` and a position such that
    the scaled source image overlaps the image as much as it can (it lies inside the image when
    smaller, covers it when larger)."""

    def __init__(self, scale_range: tuple[float, float] = (0.5, 1.5), min_visible_fraction: float = 0.1):
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f"Copy-Paste scale range must satisfy 0 < min <= max, got {scale_range}.")
        if not 0 <= min_visible_fraction <= 1:
            raise ValueError(f"min_visible_fraction must be in [0, 1], got {min_visible_fraction}.")
        self.scale_range = tuple(scale_range)
        self.min_visible_fraction = min_visible_fraction

    def __call__(
        self,
        image: np.ndarray,
        annos: list[dict],
        src_image: np.ndarray,
        src_annos: list[dict],
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, list[dict]]:
        if not src_annos:
            return image, annos
        n = len(src_annos)
        chosen = np.sort(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False))
        scale = float(rng.uniform(*self.scale_range))
        h, w = image.shape[:2]
        sh, sw = src_image.shape[:2]
        nh, nw = max(1, round(sh * scale)), max(1, round(sw * scale))
        x0 = int(rng.integers(min(0, w - nw), max(0, w - nw) + 1))
        y0 = int(rng.integers(min(0, h - nh), max(0, h - nh) + 1))
        return paste_instances(
            image, annos, src_image, [src_annos[i] for i in chosen], scale, (x0, y0), self.min_visible_fraction
        )

    def __repr__(self) -> str:
        return f"CopyPaste(scale_range={self.scale_range}, min_visible_fraction={self.min_visible_fraction})"
