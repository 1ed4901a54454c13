#!/usr/bin/env python
"""What makes a CPU-minute buy more training for tools/train_own_data.py's case: the own-data
model (Mask R-CNN R18-FPN, BN everywhere, box-only here) at 400 px, 8 images per batch, on the
tree-crown tiles (datasets/prepare_trees.py). One option per call, measured against the baseline
in the same call, alternated ``--rounds`` times (these machines are noisy: compare ratios, not
seconds); each result is appended to bench/results/cpu_minute.jsonl. Run alone on the machine.

    python datasets/prepare_trees.py
    python bench/cpu_minute.py --option channels_last --rounds 2 --iters 15
    python bench/cpu_minute.py --table

Options change speed only if they do not change AP: an option that is faster must then be
checked at equal wall-clock with bench/study.py before the own-data rules adopt it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from common import REPO, run, seconds_per_iter

BASE = "configs/OwnData/own_data_base.yaml"
DATA = ["SCRATCHDET.DATA.COCO", "[['trees_train', 'datasets/trees/train.json', 'datasets/trees/train']]",
        "DATASETS.TRAIN", "('trees_train',)", "DATASETS.TEST", "()", "MODEL.MASK_ON", "False",
        "MODEL.ROI_HEADS.NUM_CLASSES", "1", "INPUT.MIN_SIZE_TRAIN", "(400,)", "INPUT.MAX_SIZE_TRAIN", "448",
        "INPUT.MIN_SIZE_TEST", "400", "INPUT.MAX_SIZE_TEST", "448", "SOLVER.IMS_PER_BATCH", "8",
        "TEST.EVAL_PERIOD", "0", "SOLVER.CHECKPOINT_PERIOD", "100000", "SCRATCHDET.VIS.NUM_IMAGES", "0",
        "SCRATCHDET.VAL_LOSS.ENABLED", "False"]
OPTIONS = {
    "channels_last": ["SCRATCHDET.CPU.CHANNELS_LAST", "True"],
    "bf16": ["SCRATCHDET.CPU.AUTOCAST_BF16", "True"],
    "roi32": ["MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32"],
    "fc128": ["MODEL.ROI_BOX_HEAD.FC_DIM", "128"],
    "crop256": ["SCRATCHDET.AUG.CROP_AFTER_RESIZE", "256"],
    "ema_off": ["SCRATCHDET.EMA.ENABLED", "False"],
}
RESULTS = os.path.join(REPO, "bench", "results", "cpu_minute.jsonl")


def measure(opts: list[str], iters: int, out: str) -> float:
    run(["--config-file", BASE, *DATA, *opts, "SOLVER.MAX_ITER", str(iters), "OUTPUT_DIR", out])
    return seconds_per_iter(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--option", choices=sorted(OPTIONS))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--table", action="store_true")
    a = ap.parse_args()
    if a.option:
        if not os.path.isfile(os.path.join(REPO, "datasets", "trees", "train.json")):
            raise SystemExit("datasets/trees is missing: run python datasets/prepare_trees.py first.")
        base, opt = [], []
        for r in range(a.rounds):
            base.append(measure(["SCRATCHDET.EMA.ENABLED", "True"], a.iters, f"output/cpu_minute/base_{r}"))
            opt.append(measure(["SCRATCHDET.EMA.ENABLED", "True", *OPTIONS[a.option]], a.iters,
                               f"output/cpu_minute/{a.option}_{r}"))
        row = {"option": a.option, "baseline_s_per_iter": base, "option_s_per_iter": opt,
               "ratio": statistics.median(opt) / statistics.median(base), "iters": a.iters,
               "date": time.strftime("%Y-%m-%d")}
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row))
    if a.table or not a.option:
        rows = [json.loads(line) for line in open(RESULTS)] if os.path.isfile(RESULTS) else []
        print("| option | baseline s/iter | option s/iter | option / baseline |\n|---|---|---|---|")
        for r in rows:
            print(f"| {r['option']} | {statistics.median(r['baseline_s_per_iter']):.2f} | "
                  f"{statistics.median(r['option_s_per_iter']):.2f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
