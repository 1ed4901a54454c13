#!/usr/bin/env python
"""Direct detection pre-training against training from scratch at high resolution, on the
embedded shapes data, in one run (ratios against a baseline measured in the same run):

1. per-image training cost at phase 1's low resolution and at phase 2's high resolution;
2. peak memory (RSS of the process) of each phase;
3. AP against wall-clock: (a) from scratch at high resolution only, (b) low-resolution
   pre-training then high-resolution fine-tuning, both given the same total training time.

    .venv/bin/python bench/direct_pretrain.py --budget 300 --out output/bench_direct
"""

from __future__ import annotations

import argparse
import json
import os

from common import equal_time_iters, final_ap, run, seconds_per_iter

CONFIG = "projects/DirectPretrain/configs/faster_rcnn_R18_FPN_direct_shapes_cpu.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=300, help="training seconds for each of (a) and (b)")
    ap.add_argument("--pretrain-share", type=float, default=0.5, help="share of (b)'s budget spent in phase 1")
    ap.add_argument("--probe-iters", type=int, default=25)
    ap.add_argument("--out", default="output/bench_direct")
    args = ap.parse_args()
    out = args.out
    common = ["SOLVER.CHECKPOINT_PERIOD", "100000", "SCRATCHDET.VIS.NUM_IMAGES", "0"]

    # 1+2: cost per image and peak memory of each phase, from short runs of each phase alone.
    p1 = run(["--config-file", CONFIG, *common, "SCRATCHDET.RUN_PHASES", "pretrain",
              "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(args.probe_iters), "OUTPUT_DIR", f"{out}/probe"])
    p2 = run(["--config-file", CONFIG, *common, "SCRATCHDET.RUN_PHASES", "finetune",
              "MODEL.WEIGHTS", f"{out}/probe/phase1/model_final.pth", "SOLVER.MAX_ITER", str(args.probe_iters),
              "OUTPUT_DIR", f"{out}/probe"])
    cfg_batch = {"low": 16, "high": 8}  # IMS_PER_BATCH of phase 1 and phase 2 in CONFIG
    t_low = seconds_per_iter(f"{out}/probe/phase1")
    t_high = seconds_per_iter(f"{out}/probe/phase2")
    per_img = {"low": t_low / cfg_batch["low"], "high": t_high / cfg_batch["high"]}

    # 3: the same training time for both.
    it_a, (it_p1, it_p2) = equal_time_iters(args.budget, t_high, t_low, args.pretrain_share)
    a = run(["--config-file", CONFIG, *common, "SCRATCHDET.PHASE1.ENABLED", "False", "MODEL.RESNETS.NORM", "BN",
             "SOLVER.MAX_ITER", str(it_a), "SOLVER.STEPS", f"({int(it_a * 0.8)},)", "OUTPUT_DIR", f"{out}/scratch"])
    b = run(["--config-file", CONFIG, *common, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(it_p1),
             "SOLVER.MAX_ITER", str(it_p2), "SOLVER.STEPS", f"({int(it_p2 * 0.8)},)", "OUTPUT_DIR", f"{out}/direct"])
    ap_a, ap_b = final_ap(f"{out}/scratch"), final_ap(f"{out}/direct")
    rows = {
        "per_image_s": per_img, "cost_ratio_high_over_low": per_img["high"] / per_img["low"],
        "peak_rss_mb": {"phase1": p1["peak_rss_mb"], "phase2": p2["peak_rss_mb"]},
        "scratch": {"iters": it_a, "wall_s": a["wall_s"], "AP": ap_a[0], "AP50": ap_a[1]},
        "direct": {"iters": [it_p1, it_p2], "wall_s": b["wall_s"], "AP": ap_b[0], "AP50": ap_b[1]},
    }
    print(json.dumps(rows, indent=1))
    print(f"\nper-image training cost: low-res {per_img['low'] * 1000:.1f} ms, high-res {per_img['high'] * 1000:.1f} ms "
          f"(high/low = {rows['cost_ratio_high_over_low']:.2f}x)")
    print(f"peak memory: phase 1 {p1['peak_rss_mb']:.0f} MB, phase 2 {p2['peak_rss_mb']:.0f} MB "
          f"(phase1/phase2 = {p1['peak_rss_mb'] / p2['peak_rss_mb']:.2f})")
    print("| run | iterations | wall-clock (s) | box AP | AP50 |\n|---|---|---|---|---|")
    print(f"| (a) scratch, high-res only | {it_a} | {a['wall_s']:.0f} | {ap_a[0]:.1f} | {ap_a[1]:.1f} |")
    print(f"| (b) low-res pre-training + fine-tuning | {it_p1} + {it_p2} | {b['wall_s']:.0f} | {ap_b[0]:.1f} | {ap_b[1]:.1f} |")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
