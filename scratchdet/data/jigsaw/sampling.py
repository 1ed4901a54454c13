"""Classification samples for jigsaw (Montage) pre-training, extracted from a detection dataset.

- Positives: every usable ground-truth box, enlarged for context as the paper does (Zhou et al.,
  Sec. 3.1: the top-left and bottom-right corners move outward at random so that the width and
  height reach at most twice the original ones): each corner moves outward by
  ``U(0, (enlarge - 1) / 2)`` times the box's side (x by its width, y by its height),
  independently, so the enlarged side lies in ``[1, enlarge]`` times the original (mean
  ``(1 + enlarge) / 2``); then the box is rounded outward to whole pixels (up to 1 px more on
  each side) and clipped to the image. Label: the box's class.
- Negatives: ``round(negative_ratio * #positives)`` random boxes, each with IoU 0 against every
  annotated box of its image (crowd and tiny boxes included, so a negative shows no object; it
  may overlap a positive's context margin). Label: ``num_classes`` (background). Their sizes are
  those of random positives, so size alone does not give the class away.
- Skipped as positives: crowd boxes (their label covers many objects) and boxes narrower or lower
  than ``min_box_size``. Images without boxes give no positives but can host negatives.
- Groups by aspect ratio ``r = width / height`` of the final box: S (square) ``0.5 <= r <= 1.5``,
  T (tall) ``r < 0.5``, W (wide) ``r > 1.5``.

Samples are stored as flat numpy arrays (not one Python object per sample), so that COCO's
~860k samples stay small and data-loader workers share them without copy-on-read growth.
Extraction is deterministic given the dataset order and the seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from detectron2.config import CfgNode
from detectron2.structures import BoxMode
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from PIL import Image
from tqdm import tqdm

from ...config.errors import ConfigError
from ...config.num_classes import filled_num_classes
from ..dataset_dicts import registered_dataset_dicts

logger = logging.getLogger(__name__)

GROUPS = ("S", "T", "W")
# Aspect-ratio (width / height) bounds of the square group S; below: T (tall), above: W (wide).
S_MIN_ASPECT, S_MAX_ASPECT = 0.5, 1.5
# A progress bar is shown for datasets with at least this many images.
PROGRESS_MIN_IMAGES = 1000
# Attempts to place one negative; the tried size halves every NEGATIVE_SHRINK_EVERY failures
# (a crowded image may have no free space of a large size).
NEGATIVE_TRIES = 100
NEGATIVE_SHRINK_EVERY = 20


def aspect_group(width: float, height: float) -> str:
    """"S", "T" or "W" for a box of this size (aspect ratio = width / height)."""
    r = width / height
    if r < S_MIN_ASPECT:
        return "T"
    if r > S_MAX_ASPECT:
        return "W"
    return "S"


@dataclass
class JigsawSamples:
    """All samples of a dataset. Sample ``i`` is the crop ``boxes[i]`` (XYXY, whole pixels) of
    image ``file_names[image_index[i]]`` with label ``labels[i]`` (``num_classes`` = background),
    in group ``GROUPS[groups[i]]``; ``centers[i]`` is the point a random crop keeps in view (the
    ground-truth box's centre for positives, the box's centre for negatives); ``objects[i]`` is
    the ground-truth box (XYXY, image pixels) of a positive and an empty box at the centre of a
    negative."""

    file_names: list[str]
    image_index: np.ndarray
    boxes: np.ndarray
    centers: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    num_classes: int
    objects: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def indices(self, group: str) -> np.ndarray:
        """Indices of the samples in group "S", "T" or "W"."""
        return np.flatnonzero(self.groups == GROUPS.index(group))

    def summary(self) -> str:
        neg = self.labels == self.num_classes
        counts = ", ".join(f"{g}: {int((self.groups == k).sum())}" for k, g in enumerate(GROUPS))
        return f"{len(self)} jigsaw samples ({int((~neg).sum())} positives, {int(neg.sum())} negatives; {counts})"


def _image_size(d: dict) -> tuple[int, int]:
    if "height" in d and "width" in d:
        return int(d["height"]), int(d["width"])
    with PathManager.open(d["file_name"], "rb") as f:  # header only: PIL decodes lazily
        w, h = Image.open(f).size
    return h, w


def _xyxy_boxes(annos: list[dict]) -> np.ndarray:
    if not annos:
        return np.zeros((0, 4), np.float64)
    return np.array([BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS) for a in annos],
                    np.float64).reshape(-1, 4)


def _no_overlap(box: np.ndarray, others: np.ndarray) -> bool:
    """IoU 0 against every box of ``others`` (no intersection of positive area)."""
    if len(others) == 0:
        return True
    iw = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    ih = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    return not np.any((iw > 0) & (ih > 0))


def extract_samples(
    dataset_dicts: list[dict],
    num_classes: int,
    *,
    seed: int = 0,
    enlarge: float = 2.0,
    min_box_size: float = 4,
    negative_ratio: float = 0.1,
) -> JigsawSamples:
    """Extract positives and negatives from detectron2 dataset dicts (see the module docstring).

    Args:
        num_classes: number of object classes; category ids must lie in ``[0, num_classes)``.
        seed: the same dicts and seed always give the same samples.
        enlarge: the enlarged side is at most this times the original (1: no enlargement).
    """
    if enlarge < 1:
        raise ValueError(f"enlarge={enlarge}: the enlarged side is at most `enlarge` times the original, so use "
                         "a value >= 1 (1: no enlargement; the paper: 2). Key: SCRATCHDET.JIGSAW.ENLARGE.")
    rng = np.random.default_rng(seed)
    file_names, sizes, occupied = [], [], []
    image_index, boxes, centers, objects, labels = [], [], [], [], []
    skipped = {"crowd": 0, "tiny": 0}
    show = len(dataset_dicts) >= PROGRESS_MIN_IMAGES and comm.is_main_process()
    for i, d in enumerate(tqdm(dataset_dicts, desc="jigsaw positives", disable=not show)):
        h, w = _image_size(d)
        file_names.append(d["file_name"])
        sizes.append((h, w))
        annos = d.get("annotations", [])
        gt = np.clip(_xyxy_boxes(annos), 0, [w, h, w, h])
        occupied.append(gt)
        crowd = np.array([a.get("iscrowd", 0) == 1 for a in annos], bool)
        side = gt[:, 2:] - gt[:, :2]
        tiny = (side < min_box_size).any(1) & ~crowd
        skipped["crowd"] += int(crowd.sum())
        skipped["tiny"] += int(tiny.sum())
        keep = np.flatnonzero(~crowd & ~tiny)
        if len(keep) == 0:
            continue
        g, s = gt[keep], side[keep]
        # One draw of 4 numbers per kept box, in annotation order: deterministic given the seed.
        u = rng.random((len(keep), 4)) * ((enlarge - 1) / 2)
        big = np.concatenate([g[:, :2] - u[:, :2] * s, g[:, 2:] + u[:, 2:] * s], 1)
        big = np.concatenate([np.floor(big[:, :2]), np.ceil(big[:, 2:])], 1)
        big = np.clip(big, 0, [w, h, w, h])
        for k in keep:
            label = int(annos[k]["category_id"])
            if not 0 <= label < num_classes:
                raise ValueError(f"{d['file_name']}: category_id {label} is outside [0, {num_classes}); "
                                 "set SCRATCHDET.JIGSAW.NUM_CLASSES to the dataset's number of classes.")
            labels.append(label)
        image_index.extend([i] * len(keep))
        boxes.append(big)
        centers.append((g[:, :2] + g[:, 2:]) / 2)
        objects.append(g)
    num_pos = len(labels)
    boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    centers = np.concatenate(centers) if centers else np.zeros((0, 2))
    objects = np.concatenate(objects) if objects else np.zeros((0, 4))

    # Negatives: random image, size of a random positive, random place free of every annotated box.
    num_neg = int(np.floor(num_pos * negative_ratio + 0.5))
    neg_boxes, neg_images = [], []
    for _ in tqdm(range(num_neg), desc="jigsaw negatives", disable=not show or num_neg == 0):
        ref = boxes[rng.integers(num_pos)]
        for t in range(NEGATIVE_TRIES):
            i = int(rng.integers(len(file_names)))
            h, w = sizes[i]
            scale = min(0.5 ** (t // NEGATIVE_SHRINK_EVERY), w / (ref[2] - ref[0]), h / (ref[3] - ref[1]))
            bw = max(round((ref[2] - ref[0]) * scale), 1)
            bh = max(round((ref[3] - ref[1]) * scale), 1)
            x0, y0 = int(rng.integers(w - bw + 1)), int(rng.integers(h - bh + 1))
            box = np.array([x0, y0, x0 + bw, y0 + bh], np.float64)
            if _no_overlap(box, occupied[i]):
                neg_boxes.append(box)
                neg_images.append(i)
                break
    if len(neg_boxes) < num_neg:
        logger.warning(f"Jigsaw sampling placed {len(neg_boxes)} of {num_neg} negatives: the images have "
                       "little space free of annotated boxes.")
    if neg_boxes:
        nb = np.stack(neg_boxes)
        boxes = np.concatenate([boxes, nb])
        nc = (nb[:, :2] + nb[:, 2:]) / 2
        centers = np.concatenate([centers, nc])
        objects = np.concatenate([objects, np.concatenate([nc, nc], 1)])  # no object: empty box
        image_index.extend(neg_images)
        labels.extend([num_classes] * len(neg_boxes))

    side = boxes[:, 2:] - boxes[:, :2]
    groups = np.array([GROUPS.index(aspect_group(bw, bh)) for bw, bh in side], np.int8)
    samples = JigsawSamples(
        file_names=file_names, image_index=np.asarray(image_index, np.int64),
        boxes=boxes.astype(np.float32), centers=centers.astype(np.float32),
        labels=np.asarray(labels, np.int64), groups=groups, num_classes=num_classes,
        objects=objects.astype(np.float32),
    )
    logger.info(f"{samples.summary()} from {len(file_names)} images; skipped {skipped['crowd']} crowd "
                f"and {skipped['tiny']} tiny (< {min_box_size} px) boxes.")
    return samples


def object_fill(samples: JigsawSamples) -> np.ndarray:
    """For each positive sample, the fraction of its crop covered by its object (ground-truth box
    area / enlarged box area): 1 without enlargement, down to about 1/4 at twice the side in both
    directions (a little less from the outward rounding), more where the image clipped the box."""
    pos = samples.labels != samples.num_classes
    if samples.objects is None:
        raise ValueError("These samples carry no object boxes (JigsawSamples.objects).")
    b, o = samples.boxes[pos].astype(np.float64), samples.objects[pos].astype(np.float64)
    return (o[:, 2] - o[:, 0]) * (o[:, 3] - o[:, 1]) / ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))


def build_jigsaw_samples(cfg: CfgNode, dataset_names: list[str] | tuple[str, ...],
                         dicts: list[dict] | None = None) -> JigsawSamples:
    """Samples of the named registered datasets (their ``dicts`` when loaded already), with the
    SCRATCHDET.JIGSAW keys, whose NUM_CLASSES 0 ("from the data") the set-up step has filled in."""
    if not dataset_names:
        raise ConfigError("Jigsaw samples need at least one dataset (DATASETS.TRAIN / DATASETS.TEST).")
    j = cfg.SCRATCHDET.JIGSAW
    # Images without annotations are kept: they host negatives.
    if dicts is None:
        dicts = registered_dataset_dicts(dataset_names)
    return extract_samples(dicts, filled_num_classes(cfg, "SCRATCHDET.JIGSAW.NUM_CLASSES"), seed=j.SAMPLE_SEED, enlarge=j.ENLARGE,
                           min_box_size=j.MIN_BOX_SIZE, negative_ratio=j.NEGATIVE_RATIO)
