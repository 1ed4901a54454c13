#!/usr/bin/env python
"""Augmentation policies for small datasets trained from scratch: validation AP of Mask R-CNN
R18-FPN (the demo model) on the nuclei tiles and on the embedded shapes data, with no
augmentation, each policy, and a combination, every run with the same number of iterations
(the same training budget; wall-clock reported).

    .venv/bin/python datasets/prepare_nuclei.py          # once
    .venv/bin/python bench/augmentation.py --iters 300 --out output/bench_aug
"""

from __future__ import annotations

import argparse
import json
import os

from common import final_ap, run

CONFIG = "configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml"
AUG = ["SCRATCHDET.DATA.TRAIN_MAPPER", "AugmentedDatasetMapper"]
POLICIES = {
    "none": ["INPUT.RANDOM_FLIP", "none", "INPUT.MIN_SIZE_TRAIN", "(128,)"],
    "default (multi-scale + h-flip)": [],
    "lsj (0.1-2.0, 128 px)": [*AUG, "SCRATCHDET.AUG.POLICY", "lsj", "SCRATCHDET.AUG.LSJ.IMAGE_SIZE", "128"],
    "photometric": [*AUG, "SCRATCHDET.AUG.PHOTOMETRIC.ENABLED", "True"],
    "v-flip + rot90": [*AUG, "SCRATCHDET.AUG.VFLIP", "True", "SCRATCHDET.AUG.ROT90", "True"],
    "copy-paste": [*AUG, "SCRATCHDET.AUG.COPY_PASTE.ENABLED", "True", "SCRATCHDET.AUG.COPY_PASTE.PROB", "0.5"],
    "mosaic": [*AUG, "SCRATCHDET.AUG.MOSAIC.ENABLED", "True", "SCRATCHDET.AUG.MOSAIC.PROB", "0.5"],
    "lsj + copy-paste + v-flip/rot90 + photometric": [
        *AUG, "SCRATCHDET.AUG.POLICY", "lsj", "SCRATCHDET.AUG.LSJ.IMAGE_SIZE", "128", "SCRATCHDET.AUG.VFLIP", "True",
        "SCRATCHDET.AUG.ROT90", "True", "SCRATCHDET.AUG.PHOTOMETRIC.ENABLED", "True",
        "SCRATCHDET.AUG.COPY_PASTE.ENABLED", "True", "SCRATCHDET.AUG.COPY_PASTE.PROB", "0.5"],
}
DATASETS = {
    "nuclei": ["SCRATCHDET.DATA.COCO", "[['nuclei_train','datasets/nuclei/train.json','datasets/nuclei/train'],"
               "['nuclei_val','datasets/nuclei/val.json','datasets/nuclei/val']]",
               "DATASETS.TRAIN", "('nuclei_train',)", "DATASETS.TEST", "('nuclei_val',)", "MODEL.ROI_HEADS.NUM_CLASSES", "1",
               "MODEL.ANCHOR_GENERATOR.SIZES", "[[8], [16], [32], [64], [128]]"],
    "shapes": [],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--policies", nargs="+", default=list(POLICIES), help="names from POLICIES")
    ap.add_argument("--out", default="output/bench_aug")
    args = ap.parse_args()
    results = {}
    sched = ["SOLVER.MAX_ITER", str(args.iters), "SOLVER.STEPS", f"({int(args.iters * 0.75)}, {int(args.iters * 0.9)})",
             "SOLVER.WARMUP_ITERS", "50", "SOLVER.CHECKPOINT_PERIOD", "100000", "SCRATCHDET.VIS.NUM_IMAGES", "0"]
    for ds in args.datasets:
        for name in args.policies:
            out = os.path.join(args.out, ds, name.split(" ")[0].replace("/", "_") + str(list(POLICIES).index(name)))
            r = run(["--config-file", CONFIG, *sched, *DATASETS[ds], *POLICIES[name], "OUTPUT_DIR", out])
            box, segm = final_ap(out, "bbox"), final_ap(out, "segm")
            results[f"{ds}/{name}"] = {"bbox_AP": box[0], "bbox_AP50": box[1], "segm_AP": segm[0], "wall_s": r["wall_s"]}
            print(ds, name, results[f"{ds}/{name}"], flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("\n| dataset | policy | box AP | box AP50 | mask AP | wall-clock (s) |\n|---|---|---|---|---|---|")
    for k, v in results.items():
        ds, name = k.split("/", 1)
        print(f"| {ds} | {name} | {v['bbox_AP']:.1f} | {v['bbox_AP50']:.1f} | {v['segm_AP']:.1f} | {v['wall_s']:.0f} |")


if __name__ == "__main__":
    main()
