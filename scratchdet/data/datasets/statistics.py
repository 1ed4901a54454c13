"""Statistics of a dataset's boxes, the config keys they suggest for an input size, and a
start-up warning when the config caps detections below the dataset's boxes per image."""

from __future__ import annotations

import logging
import math
import re

import numpy as np
from detectron2.config import CfgNode
from detectron2.structures import BoxMode

logger = logging.getLogger(__name__)
_warned: set = set()


def max_boxes_per_image(dicts: list[dict]) -> int:
    return max((sum(1 for a in d.get("annotations", []) if not a.get("iscrowd", 0)) for d in dicts), default=0)


def dataset_statistics(dicts: list[dict], classes: list[str] | None, input_size: int | None = None,
                       progress: bool = False) -> dict:
    """Images, boxes per image, box sizes (sqrt of area) in pixels, relative to the image and, with
    ``input_size``, after resizing the shorter side to it (as INPUT.MIN_SIZE_TEST does)."""
    from tqdm import tqdm

    per_image, size_px, size_rel, size_resized, cls, short, aspect = [], [], [], [], [], [], []
    for d in tqdm(dicts, desc="boxes", disable=not progress):
        h, w = d["height"], d["width"]
        short.append(min(h, w))
        aspect.append(max(h, w) / min(h, w))
        scale = input_size / min(h, w) if input_size else 1.0
        anns = [a for a in d.get("annotations", []) if not a.get("iscrowd", 0)]
        per_image.append(len(anns))
        for a in anns:
            x0, y0, x1, y1 = BoxMode.convert(list(a["bbox"]), a["bbox_mode"], BoxMode.XYXY_ABS)
            s = math.sqrt(max(x1 - x0, 0) * max(y1 - y0, 0))
            size_px.append(s)
            size_rel.append(s / math.sqrt(h * w))
            size_resized.append(s * scale)
            cls.append(a["category_id"])
    def pct(v, q):
        return (float(np.percentile(v, q)) if len(v) else 0.0)
    names = classes or [str(c) for c in sorted(set(cls))]
    return {
        "images": len(dicts), "classes": list(names), "boxes": len(size_px),
        "boxes_per_class": {n: int(sum(1 for c in cls if c == i)) for i, n in enumerate(names)},
        "boxes_per_image": {"max": int(max(per_image, default=0)), "p95": pct(per_image, 95),
                            "mean": float(np.mean(per_image)) if per_image else 0.0},
        "image_short_side": {"min": int(min(short, default=0)), "median": pct(short, 50), "max": int(max(short, default=0))},
        "max_aspect_ratio": float(max(aspect, default=1.0)),
        "input_size": input_size or int(pct(short, 50)),
        "box_size_px": {q: pct(size_px, q) for q in (1, 5, 50, 95, 99)},
        "box_size_relative": {q: pct(size_rel, q) for q in (1, 5, 50, 95, 99)},
        "box_size_resized": {q: pct(size_resized, q) for q in (1, 5, 50, 95, 99)},
        "_sizes": {"px": size_px, "relative": size_rel, "resized": size_resized, "per_image": per_image},
    }


def _min_stride(cfg: CfgNode) -> int:
    names = cfg.MODEL.RPN.IN_FEATURES if cfg.MODEL.META_ARCHITECTURE != "RetinaNet" else cfg.MODEL.RETINANET.IN_FEATURES
    strides = [2 ** int(m.group(1)) for n in names if (m := re.search(r"(\d+)$", n))]
    return min(strides) if strides else 4


def suggest_anchor_sizes(sizes: list[float], levels: int, min_size: float) -> list[float]:
    """One size per level, doubling per level; the smallest (a power of 2, at least ``min_size``)
    is the one that puts the most boxes within a factor sqrt(2) of an anchor, ties broken by the
    middle anchor closest to the median box."""
    if not sizes:
        return [32.0 * 2 ** k for k in range(levels)]
    s = np.asarray(sizes)
    med = float(np.median(s))
    best = None
    for e in range(1, 11):
        s0 = 2.0 ** e
        if s0 < min_size:
            continue
        covered = np.mean((s >= s0 / math.sqrt(2)) & (s < s0 * 2 ** (levels - 1) * math.sqrt(2)))
        key = (round(float(covered), 3), -abs(math.log2(s0 * 2 ** ((levels - 1) / 2) / med)))
        if best is None or key > best[0]:
            best = (key, s0)
    return [best[1] * 2 ** k for k in range(levels)]


def suggested_config(stats: dict, cfg: CfgNode) -> dict:
    """Config keys (dotted) and values that fit the data at ``stats['input_size']``."""
    n = stats["input_size"]
    max_size = int(math.ceil(n * stats["max_aspect_ratio"] / 32) * 32)
    per_level = cfg.MODEL.ANCHOR_GENERATOR.SIZES
    if len(per_level) == 1:  # one feature map (C4): all sizes on it
        sizes = suggest_anchor_sizes(stats["_sizes"]["resized"], len(per_level[0]), 2 * _min_stride(cfg))
        anchors = [[float(v) for v in sizes]]
    else:
        sizes = suggest_anchor_sizes(stats["_sizes"]["resized"], len(per_level), 2 * _min_stride(cfg))
        anchors = [[float(v)] for v in sizes]
    m = stats["boxes_per_image"]["max"]
    dets = max(100, int(math.ceil(1.5 * m / 50) * 50))
    post = max(1000, int(math.ceil(4 * m / 100) * 100))
    return {
        "INPUT.MIN_SIZE_TRAIN": (n,), "INPUT.MAX_SIZE_TRAIN": max_size,
        "INPUT.MIN_SIZE_TEST": n, "INPUT.MAX_SIZE_TEST": max_size,
        "MODEL.ANCHOR_GENERATOR.SIZES": anchors,
        "MODEL.ROI_HEADS.NUM_CLASSES": len(stats["classes"]),
        "MODEL.RETINANET.NUM_CLASSES": len(stats["classes"]),
        "TEST.DETECTIONS_PER_IMAGE": dets,
        "MODEL.RPN.POST_NMS_TOPK_TEST": post,
        "MODEL.RPN.PRE_NMS_TOPK_TEST": max(post, 1000),
    }


def warn_if_detections_capped(cfg: CfgNode, dicts: list[dict], dataset_name: str) -> None:
    """Log (once per dataset and values) when the config keeps fewer detections or proposals per
    image than the dataset has boxes in one image: recall, hence AP, is capped. The config is
    not changed; tools/dataset_report.py suggests values."""
    m = max_boxes_per_image(dicts)
    low = [(k, v) for k, v in (("TEST.DETECTIONS_PER_IMAGE", cfg.TEST.DETECTIONS_PER_IMAGE),
                               ("MODEL.RPN.POST_NMS_TOPK_TEST", cfg.MODEL.RPN.POST_NMS_TOPK_TEST)) if v < m]
    if cfg.MODEL.META_ARCHITECTURE != "GeneralizedRCNN" or cfg.MODEL.PROPOSAL_GENERATOR.NAME != "RPN":
        low = [kv for kv in low if not kv[0].startswith("MODEL.RPN")]
    key = (dataset_name, m, tuple(low))
    if low and key not in _warned:
        _warned.add(key)
        logger.warning(
            f"Dataset '{dataset_name}' has up to {m} boxes in one image but "
            + ", ".join(f"{k}={v}" for k, v in low)
            + f": the model can report at most that many per image, which caps recall and AP. Set them to at "
            f"least {m} (tools/dataset_report.py {dataset_name} suggests values)."
        )
