#!/usr/bin/env python
"""Inference latency on CPU: the eager PyTorch model against its TorchScript export
(scratchdet.engine.inference.export), on the same images, alternated, in one run (ratios, not seconds,
are what compares across machines). Random weights: latency does not depend on them, except
through the number of detections, which is capped by SCORE_THRESH_TEST 0 and the top-k.

    .venv/bin/python bench/export_latency.py --images 20 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CONFIGS = {
    "Mask R-CNN R18-FPN (demo)": ("configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml", []),
    "Faster R-CNN Root-ResNet-18-FPN": ("projects/ScratchDet/configs/faster_rcnn_rootres18_FPN_shapes_cpu.yaml", []),
    "RetinaNet Root-ResNet-FPN": ("projects/ScratchDet/configs/Base-RetinaNet-RootResNet-FPN.yaml",
                                  ["MODEL.DEVICE", "cpu", "INPUT.MIN_SIZE_TEST", "128", "INPUT.MAX_SIZE_TEST", "256"]),
    "ScratchDet SSD Root-ResNet-18": ("projects/ScratchDet/configs/scratchdet_rootres18_shapes_cpu.yaml", []),
    "DEYO R18-FPN (NMS-free)": ("projects/DEYO/configs/deyo_two_stage_R18_FPN_shapes_cpu.yaml", []),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import torch
    from detectron2.modeling import build_model

    import scratchdet  # noqa: F401
    from scratchdet.config import load_config_file
    from scratchdet.engine.inference.export import export, traceable

    print("| model | eager ms/image | TorchScript ms/image | exported / eager | spread of round medians |")
    print("|---|---|---|---|---|")
    for name, (config, opts) in CONFIGS.items():
        cfg = load_config_file(config, [*opts, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"])
        torch.manual_seed(0)
        model = build_model(cfg).eval()
        g = torch.Generator().manual_seed(0)
        size = (3, cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MIN_SIZE_TEST)
        images = [torch.randint(0, 255, size, generator=g, dtype=torch.uint8) for _ in range(args.images + 1)]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.ts")
            export(model, images[0], "torchscript", path)
            traced = torch.jit.load(path)
        eager = traceable(model, images[0])
        runs = {"eager": [], "ts": []}
        with torch.no_grad():
            for fn in (eager, traced):  # warm-up
                fn(images[0])
            for _ in range(args.rounds):
                for key, fn in (("eager", eager), ("ts", traced)):
                    t0 = time.perf_counter()
                    for img in images[1:]:
                        fn(img)
                    runs[key].append((time.perf_counter() - t0) / args.images * 1000)
        e, t = statistics.median(runs["eager"]), statistics.median(runs["ts"])
        spread = f"{min(runs['eager']):.1f}-{max(runs['eager']):.1f} / {min(runs['ts']):.1f}-{max(runs['ts']):.1f}"
        print(f"| {name} | {e:.1f} | {t:.1f} | {t / e:.2f} | {spread} |")


if __name__ == "__main__":
    main()
