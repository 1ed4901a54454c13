#!/usr/bin/env python
"""COCO evaluation: the faster-coco-eval path scratchdet installs where detectron2's compiled
``COCOeval_opt`` is missing, against pycocotools' ``COCOeval``, on the same predictions, in one
run: wall-clock of detectron2's ``_evaluate_predictions_on_coco`` (loadRes + evaluate +
accumulate + summarize) and AP to 4 decimals, for boxes and masks.

The data are synthetic so that the size is the one that matters (COCO-like: many images, many
detections): --images images of 640x480 with 3-15 objects of 5 classes; predictions are the
ground truth jittered (scores falling with the jitter), plus false positives, up to 100 per image.

    .venv/bin/python bench/evaluation.py --images 1000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def synthesize(n_images: int, seed: int = 0) -> tuple[dict, list[dict]]:
    """A COCO ground-truth dict and detectron2-style results (bbox + RLE segmentation)."""
    from pycocotools import mask as mask_util

    rng = np.random.default_rng(seed)
    w, h = 640, 480
    images, anns, results = [], [], []

    def rle(box):  # the mask of a box-shaped object (an ellipse would do as well; cost is the RLE)
        x, y, bw, bh = box
        poly = [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]
        r = mask_util.merge(mask_util.frPyObjects(poly, h, w))
        r["counts"] = r["counts"].decode("ascii")
        return r

    for i in range(1, n_images + 1):
        images.append({"id": i, "width": w, "height": h, "file_name": f"{i}.jpg"})
        n = int(rng.integers(3, 16))
        for _ in range(n):
            bw, bh = rng.uniform(8, 200, size=2)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            box = [float(x), float(y), float(bw), float(bh)]
            cat = int(rng.integers(1, 6))
            seg = rle(box)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": cat, "bbox": box,
                         "area": float(bw * bh), "iscrowd": 0, "segmentation": seg})
            for _ in range(int(rng.integers(1, 6))):  # several detections per object, worse and worse
                jitter = rng.uniform(0, 0.3)
                jb = [box[0] + rng.normal(0, jitter * bw), box[1] + rng.normal(0, jitter * bh),
                      bw * (1 + rng.normal(0, jitter)), bh * (1 + rng.normal(0, jitter))]
                jb = [max(0.0, jb[0]), max(0.0, jb[1]), max(1.0, jb[2]), max(1.0, jb[3])]
                c = cat if rng.random() > 0.1 else int(rng.integers(1, 6))
                results.append({"image_id": i, "category_id": c, "bbox": jb, "segmentation": rle(jb),
                                "score": float(np.clip(1 - jitter * 2 + rng.normal(0, 0.1), 0.01, 1))})
        for _ in range(int(rng.integers(0, 30))):  # false positives
            bw, bh = rng.uniform(8, 150, size=2)
            fb = [float(rng.uniform(0, w - bw)), float(rng.uniform(0, h - bh)), float(bw), float(bh)]
            results.append({"image_id": i, "category_id": int(rng.integers(1, 6)), "bbox": fb,
                            "segmentation": rle(fb), "score": float(rng.uniform(0.01, 0.6))})
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": c, "name": f"class{c}"} for c in range(1, 6)]}
    return gt, results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sys.path.insert(0, REPO)
    import detectron2.evaluation.coco_evaluation as d2_coco_eval
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from scratchdet.evaluation import fast_coco

    if fast_coco.FAST_COCO_EVAL is None:
        sys.exit("faster-coco-eval is not in use here (detectron2._C present, or faster-coco-eval not installed).")
    gt, results = synthesize(args.images, args.seed)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
    print(f"{args.images} images, {len(gt['annotations'])} objects, {len(results)} detections")
    rows = []
    for iou in ("bbox", "segm"):
        for name, fn in (("pycocotools COCOeval", COCOeval), ("faster-coco-eval (scratchdet)", d2_coco_eval.COCOeval_opt)):
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                ev = d2_coco_eval._evaluate_predictions_on_coco(coco_gt, results, iou, cocoeval_fn=fn)
            rows.append((iou, name, time.perf_counter() - t0, 100 * ev.stats[0], 100 * ev.stats[1]))
    print("\n| task | evaluator | time (s) | AP | AP50 |\n|---|---|---|---|---|")
    for iou, name, t, a, a50 in rows:
        print(f"| {iou} | {name} | {t:.2f} | {a:.4f} | {a50:.4f} |")
    for i in (0, 2):
        slow, fast = rows[i], rows[i + 1]
        same = round(slow[3], 4) == round(fast[3], 4) and round(slow[4], 4) == round(fast[4], 4)
        print(f"{slow[0]}: faster-coco-eval {slow[2] / fast[2]:.1f}x faster; AP equal to 4 decimals: {same}")


if __name__ == "__main__":
    main()
