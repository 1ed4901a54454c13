#!/usr/bin/env python
"""Step-by-step training (DEYO) on the embedded shapes data, in one run:

1. AP of stage 2 (frozen stage-1 backbone+neck, DETR-style decoder, no NMS) against the stage-1
   RetinaNet and against a RetinaNet trained for the same total time as stage 1 + stage 2;
2. inference latency per image (batch 1, CPU): the stage-1 RetinaNet with NMS at a low score
   threshold (0.05, as for AP) against the NMS-free decoder;
3. peak memory (RSS) of the stage-2 training process against the stage-1 one.

    .venv/bin/python bench/deyo.py --stage1-iters 500 --stage2-iters 500 --out output/bench_deyo
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from common import REPO, final_ap, run, seconds_per_iter

CONFIG = "projects/DEYO/configs/deyo_two_stage_R18_FPN_shapes_cpu.yaml"


def latency_ms(opts: list[str], weights: str, phase1: bool, n: int = 40) -> float:
    sys.path.insert(0, REPO)
    import torch
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.data import DatasetCatalog
    from detectron2.data.detection_utils import read_image

    import scratchdet  # noqa: F401
    from scratchdet.config import load_config_file
    from scratchdet.engine import Trainer
    from scratchdet.engine.phases import phase1_config

    cfg = load_config_file(os.path.join(REPO, CONFIG), opts)
    cfg = phase1_config(cfg) if phase1 else cfg
    model = Trainer.build_model(cfg).eval()
    DetectionCheckpointer(model).load(weights)
    images = [read_image(d["file_name"], "BGR") for d in DatasetCatalog.get("shapes_val")[:n]]
    batches = [[{"image": torch.as_tensor(im.transpose(2, 0, 1).astype("float32")), "height": 128, "width": 128}]
               for im in images]
    with torch.no_grad():
        for b in batches[:5]:
            model(b)  # warm-up
        t0 = time.perf_counter()
        for b in batches:
            model(b)
    return (time.perf_counter() - t0) / len(batches) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage1-iters", type=int, default=500)
    ap.add_argument("--stage2-iters", type=int, default=500)
    ap.add_argument("--out", default="output/bench_deyo")
    args = ap.parse_args()
    out = args.out
    common = ["SOLVER.CHECKPOINT_PERIOD", "100000", "SCRATCHDET.VIS.NUM_IMAGES", "0"]
    s1 = run(["--config-file", CONFIG, *common, "SCRATCHDET.RUN_PHASES", "pretrain",
              "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(args.stage1_iters),
              "SCRATCHDET.PHASE1.SOLVER.STEPS", f"({int(args.stage1_iters * 0.8)},)", "OUTPUT_DIR", f"{out}/deyo"])
    s2 = run(["--config-file", CONFIG, *common, "SCRATCHDET.RUN_PHASES", "finetune", "SOLVER.MAX_ITER",
              str(args.stage2_iters), "SOLVER.STEPS", f"({int(args.stage2_iters * 0.8)},)", "OUTPUT_DIR", f"{out}/deyo"])
    t1, t2 = seconds_per_iter(f"{out}/deyo/phase1"), seconds_per_iter(f"{out}/deyo/phase2")
    it_r = round(args.stage1_iters + args.stage2_iters * t2 / t1)  # RetinaNet for the same time
    run(["--config-file", CONFIG, *common, "SCRATCHDET.RUN_PHASES", "pretrain",
             "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(it_r), "SCRATCHDET.PHASE1.SOLVER.STEPS", f"({int(it_r * 0.8)},)",
             "OUTPUT_DIR", f"{out}/retinanet_same_time"])
    ap1 = final_ap(f"{out}/deyo/phase1")
    ap2 = final_ap(f"{out}/deyo/phase2")
    apr = final_ap(f"{out}/retinanet_same_time/phase1")
    lat1 = latency_ms(["MODEL.RETINANET.SCORE_THRESH_TEST", "0.05"], f"{out}/deyo/phase1/model_final.pth", True)
    lat2 = latency_ms([], f"{out}/deyo/phase2/model_final.pth", False)
    res = {"AP": {"stage1_retinanet": ap1, "stage2_deyo": ap2, "retinanet_same_time": apr},
           "iters": {"stage1": args.stage1_iters, "stage2": args.stage2_iters, "retinanet_same_time": it_r},
           "s_per_iter": {"stage1": t1, "stage2": t2},
           "latency_ms": {"stage1_with_nms": lat1, "stage2_nms_free": lat2},
           "peak_rss_mb": {"stage1": s1["peak_rss_mb"], "stage2": s2["peak_rss_mb"]}}
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    print("| model | training iterations | box AP | AP50 |\n|---|---|---|---|")
    print(f"| stage 1: RetinaNet R18-FPN | {args.stage1_iters} | {ap1[0]:.1f} | {ap1[1]:.1f} |")
    print(f"| stage 2: frozen stage 1 + decoder (DEYO) | {args.stage1_iters} + {args.stage2_iters} | {ap2[0]:.1f} | {ap2[1]:.1f} |")
    print(f"| RetinaNet, same total time | {it_r} | {apr[0]:.1f} | {apr[1]:.1f} |")
    print(f"latency per image: stage 1 with NMS {lat1:.1f} ms, stage 2 NMS-free {lat2:.1f} ms "
          f"(stage2/stage1 = {lat2 / lat1:.2f}); s/iter stage 2 / stage 1 = {t2 / t1:.2f}")
    print(f"peak memory (RSS): stage 1 {s1['peak_rss_mb']:.0f} MB, stage 2 {s2['peak_rss_mb']:.0f} MB "
          f"(stage2/stage1 = {s2['peak_rss_mb'] / s1['peak_rss_mb']:.2f})")


if __name__ == "__main__":
    main()
