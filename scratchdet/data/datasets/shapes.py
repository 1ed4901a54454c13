"""The embedded default dataset: "shapes", built deterministically by the project on first use.

Each image shows several filled shapes of five classes (circle, triangle, square, star, ring) in
random colours, sizes from about 8 to 60 px (scale variation), rotated, drawn one over the other
(occlusion: the instance masks are the *visible* parts, and instances hidden by more than 60% are
dropped) on a noisy gradient background with clutter (lines, dots, blobs) that is not annotated.
The class is the shape, never the colour, so a detector has to learn shape. Stored as COCO json
with polygon instance masks, so it goes through the same loading path as real data.
"""

from __future__ import annotations

import logging
import os

import cv2
import numpy as np
from tqdm import tqdm

from ...io.atomic import atomic_write_json

SHAPES_CLASSES = ["circle", "triangle", "square", "star", "ring"]
# split name -> (number of images, seed); disjoint seeds so train and val images differ.
SHAPES_SPLITS = {"train": (320, 1), "val": (80, 2)}
IMAGE_SIZE = 128
MAX_OCCLUDED = 0.6


def default_shapes_root() -> str:
    """Where the embedded dataset lives: $SCRATCHDET_SHAPES_ROOT, else $DETECTRON2_DATASETS/scratchdet_shapes
    (``datasets/`` relative to the working directory when unset, as detectron2 does)."""
    if "SCRATCHDET_SHAPES_ROOT" in os.environ:
        return os.environ["SCRATCHDET_SHAPES_ROOT"]
    return os.path.join(os.environ.get("DETECTRON2_DATASETS", "datasets"), "scratchdet_shapes")


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    c0, c1 = rng.uniform(40, 215, size=(2, 3))
    t = np.linspace(0, 1, size)[None, :, None]
    img = c0 * (1 - t) + c1 * t
    if rng.random() < 0.5:
        img = img.transpose(1, 0, 2)
    img = img + rng.normal(0, 12, size=(size, size, 3))
    return img


def _clutter(rng: np.random.Generator, img: np.ndarray) -> None:
    size = img.shape[0]
    for _ in range(rng.integers(3, 9)):
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        kind = rng.integers(3)
        if kind == 0:
            p0, p1 = rng.integers(0, size, (2, 2))
            cv2.line(img, tuple(int(v) for v in p0), tuple(int(v) for v in p1), color, int(rng.integers(1, 3)))
        elif kind == 1:
            c = rng.integers(0, size, 2)
            cv2.circle(img, (int(c[0]), int(c[1])), int(rng.integers(1, 3)), color, -1)
        else:  # an irregular blob: a random non-convex polygon, not one of the classes
            c = rng.uniform(0, size, 2)
            ang = np.sort(rng.uniform(0, 2 * np.pi, 7))
            rad = rng.uniform(2, 9, 7)
            pts = np.stack([c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)], 1).astype(np.int32)
            cv2.fillPoly(img, [pts], color)


def _shape_mask(rng: np.random.Generator, cls: str, size: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    r = rng.uniform(4, 30)
    cx, cy = rng.uniform(r * 0.5, size - r * 0.5, 2)
    theta = rng.uniform(0, 2 * np.pi)

    def poly(radii: np.ndarray, n: int) -> np.ndarray:
        a = theta + np.arange(n) * 2 * np.pi / n
        return np.stack([cx + radii * np.cos(a), cy + radii * np.sin(a)], 1)

    if cls == "circle":
        cv2.ellipse(mask, (round(cx), round(cy)), (round(r), round(r * rng.uniform(0.85, 1.0))),
                    np.degrees(theta), 0, 360, 1, -1)
    elif cls == "triangle":
        cv2.fillPoly(mask, [poly(np.full(3, r), 3).round().astype(np.int32)], 1)
    elif cls == "square":
        cv2.fillPoly(mask, [poly(np.full(4, r), 4).round().astype(np.int32)], 1)
    elif cls == "star":
        radii = np.tile([r, r * 0.45], 5)
        cv2.fillPoly(mask, [poly(radii, 10).round().astype(np.int32)], 1)
    elif cls == "ring":
        cv2.circle(mask, (round(cx), round(cy)), round(r), 1, -1)
        cv2.circle(mask, (round(cx), round(cy)), max(1, round(r * 0.55)), 0, -1)
    return mask


def _mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons of a binary mask. A hole (the inside of a ring) is kept by joining it to its
    outer contour with a zero-width bridge, since a COCO polygon list cannot express holes."""
    contours, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hierarchy is None:
        return []
    hierarchy = hierarchy[0]  # per contour: next, previous, first child, parent
    polys = []
    for i, c in enumerate(contours):
        if hierarchy[i][3] != -1 or len(c) < 3:
            continue
        outer = c.reshape(-1, 2)
        child = hierarchy[i][2]
        while child != -1:
            hole = contours[child].reshape(-1, 2)
            d = ((outer[:, None, :] - hole[None, :, :]) ** 2).sum(-1)
            oi, hi = np.unravel_index(d.argmin(), d.shape)
            hole = np.roll(hole, -hi, 0)
            outer = np.concatenate([outer[: oi + 1], hole, hole[:1], outer[oi:]])
            child = hierarchy[child][0]
        # +0.5: contour points are pixel indices; polygon coordinates are continuous (pixel centres at .5).
        polys.append((outer.astype(np.float64) + 0.5).flatten().tolist())
    return polys


def make_shapes_image(seed: int, size: int = IMAGE_SIZE, return_masks: bool = False):
    """One image (HxWx3 uint8, RGB) and its annotations (bbox XYWH, polygons, category index);
    with ``return_masks``, also the visible binary mask of each annotation."""
    rng = np.random.default_rng(seed)
    img = _background(rng, size)
    _clutter(rng, img)
    n = int(rng.integers(2, 9))
    masks, classes, colors = [], [], []
    for _ in range(n):
        cls = int(rng.integers(len(SHAPES_CLASSES)))
        m = _shape_mask(rng, SHAPES_CLASSES[cls], size)
        if m.sum() < 12:
            continue
        masks.append(m.astype(bool))
        classes.append(cls)
        colors.append(rng.uniform(0, 255, 3))
    covered = np.zeros((size, size), bool)
    visible = [None] * len(masks)
    for i in reversed(range(len(masks))):  # later shapes are drawn on top
        visible[i] = masks[i] & ~covered
        covered |= masks[i]
    for m, col in zip(masks, colors):
        img[m] = col + rng.normal(0, 6, size=(int(m.sum()), 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    anns, kept_masks = [], []
    for m, vis, cls in zip(masks, visible, classes):
        if vis.sum() < 10 or vis.sum() < (1 - MAX_OCCLUDED) * m.sum():
            continue
        polys = _mask_to_polygons(vis)
        if not polys:
            continue
        ys, xs = np.nonzero(vis)
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        anns.append({"bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                     "segmentation": polys, "area": float(vis.sum()), "category_index": cls})
        kept_masks.append(vis)
    return (img, anns, kept_masks) if return_masks else (img, anns)


def build_shapes_split(root: str, split: str) -> str:
    """Write ``root/<split>/*.png`` and ``root/<split>.json`` if missing; return the json path."""
    json_file = os.path.join(root, f"{split}.json")
    if os.path.isfile(json_file):
        return json_file
    n, seed = SHAPES_SPLITS[split]
    image_dir = os.path.join(root, split)
    os.makedirs(image_dir, exist_ok=True)
    logging.getLogger(__name__).info(f"Building the embedded 'shapes' dataset ({split}, {n} images) in {root}")
    images, annotations = [], []
    for i in tqdm(range(n), desc=f"shapes/{split}", unit="img", leave=False):
        img, anns = make_shapes_image(seed * 100_003 + i)
        name = f"{i:05d}.png"
        cv2.imwrite(os.path.join(image_dir, name), img[:, :, ::-1])
        images.append({"id": i + 1, "file_name": name, "height": img.shape[0], "width": img.shape[1]})
        for a in anns:
            cls = a.pop("category_index")
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": cls + 1,
                                "iscrowd": 0, **a})
    coco = {
        "info": {"description": "scratchdet embedded shapes dataset", "version": "1"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": c} for i, c in enumerate(SHAPES_CLASSES)],
    }
    # Written last and atomically: the json's presence means the split is complete.
    atomic_write_json(coco, json_file)
    return json_file
