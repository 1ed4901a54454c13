#!/usr/bin/env python
"""Jigsaw pre-training on the embedded shapes data, in one run:

1. the jigsaw mapper's throughput (canvases/s, one worker) against the rate at which the
   pre-training model consumes canvases (training step rate x batch size): the ratio says how
   many loader workers keep the model fed;
2. AP against wall-clock of jigsaw pre-training + fine-tuning versus training the same detector
   from scratch, both given the same total training time.

    .venv/bin/python bench/jigsaw_pretrain.py --budget 300 --out output/bench_jigsaw
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from common import REPO, equal_time_iters, final_ap, run, seconds_per_iter

CONFIG = "projects/JigsawPretrain/configs/jigsaw_then_faster_rcnn_R18_FPN_shapes_cpu.yaml"


def mapper_throughput(n: int) -> float:
    """Canvases per second of the JigsawMapper in this process (one worker)."""
    sys.path.insert(0, REPO)
    from detectron2.data import DatasetCatalog

    import scratchdet  # noqa: F401
    from scratchdet.config import load_config_file
    from scratchdet.data import build_mapper
    from scratchdet.engine.phases import phase1_config

    cfg = phase1_config(load_config_file(os.path.join(REPO, CONFIG)))
    mapper = build_mapper(cfg, is_train=True)  # sample extraction happens here, not timed
    dicts = DatasetCatalog.get(cfg.DATASETS.TRAIN[0])
    t0 = time.perf_counter()
    for i in range(n):
        mapper(dicts[i % len(dicts)])
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=300, help="training seconds for each of the two runs")
    ap.add_argument("--pretrain-share", type=float, default=0.5)
    ap.add_argument("--probe-iters", type=int, default=20)
    ap.add_argument("--out", default="output/bench_jigsaw")
    args = ap.parse_args()
    out = args.out
    common = ["SOLVER.CHECKPOINT_PERIOD", "100000", "SCRATCHDET.VIS.NUM_IMAGES", "0"]

    canvases_per_s = mapper_throughput(200)
    run(["--config-file", CONFIG, *common, "SCRATCHDET.RUN_PHASES", "pretrain",
         "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(args.probe_iters), "OUTPUT_DIR", f"{out}/probe"])
    run(["--config-file", CONFIG, *common, "SCRATCHDET.RUN_PHASES", "finetune", "SOLVER.MAX_ITER",
         str(args.probe_iters), "OUTPUT_DIR", f"{out}/probe"])
    t_pre, t_det = seconds_per_iter(f"{out}/probe/phase1"), seconds_per_iter(f"{out}/probe/phase2")
    consumed = 16 / t_pre  # phase 1's IMS_PER_BATCH canvases per training step

    it_a, (it_p1, it_p2) = equal_time_iters(args.budget, t_det, t_pre, args.pretrain_share)
    a = run(["--config-file", CONFIG, *common, "SCRATCHDET.PHASE1.ENABLED", "False", "SOLVER.MAX_ITER", str(it_a),
             "SOLVER.STEPS", f"({int(it_a * 0.8)},)", "OUTPUT_DIR", f"{out}/scratch"])
    b = run(["--config-file", CONFIG, *common, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(it_p1),
             "SCRATCHDET.PHASE1.SOLVER.STEPS", f"({int(it_p1 * 0.8)},)", "SOLVER.MAX_ITER", str(it_p2),
             "SOLVER.STEPS", f"({int(it_p2 * 0.8)},)", "OUTPUT_DIR", f"{out}/jigsaw"])
    ap_a, ap_b = final_ap(f"{out}/scratch"), final_ap(f"{out}/jigsaw")
    res = {"mapper_canvases_per_s": canvases_per_s, "model_canvases_per_s": consumed,
           "s_per_iter": {"jigsaw": t_pre, "detector": t_det},
           "scratch": {"iters": it_a, "wall_s": a["wall_s"], "AP": ap_a[0], "AP50": ap_a[1]},
           "jigsaw": {"iters": [it_p1, it_p2], "wall_s": b["wall_s"], "AP": ap_b[0], "AP50": ap_b[1]}}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(f"jigsaw mapper: {canvases_per_s:.1f} canvases/s (one worker); the model consumes "
          f"{consumed:.1f} canvases/s: mapper/model = {canvases_per_s / consumed:.2f}")
    print("| run | iterations | wall-clock (s) | box AP | AP50 |\n|---|---|---|---|---|")
    print(f"| from scratch | {it_a} | {a['wall_s']:.0f} | {ap_a[0]:.1f} | {ap_a[1]:.1f} |")
    print(f"| jigsaw pre-training + fine-tuning | {it_p1} + {it_p2} | {b['wall_s']:.0f} | {ap_b[0]:.1f} | {ap_b[1]:.1f} |")


if __name__ == "__main__":
    main()
