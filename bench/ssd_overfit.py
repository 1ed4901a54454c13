#!/usr/bin/env python
"""Diagnostic for the ScratchDet SSD: over-fit a few fixed training images (no random
augmentation) and report box AP on those same images. A detector that can learn must approach
100 here; if it does not, the fault is in the model, its targets, its loss or its inference, not
in the schedule. Also reports AP with BN in training mode (batch statistics), which separates a
BN-statistics problem at test time from a learning problem.

    .venv/bin/python bench/ssd_overfit.py --iters 300
    .venv/bin/python bench/ssd_overfit.py --iters 300 MODEL.SSD.HEAD_NORM ""   # any config overrides
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time

import torch
from detectron2.data import DatasetCatalog
from detectron2.utils.logger import setup_logger

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scratchdet.config import load_config_file
from scratchdet.data.mappers import SSDMapper
from scratchdet.engine import Trainer
from scratchdet.evaluation.build import build_evaluator

CONFIG = "projects/ScratchDet/configs/scratchdet_rootres18_shapes_cpu.yaml"
# The same images every step: no random augmentation.
NO_AUG = ["INPUT.SSD.PHOTOMETRIC_PROB", "0.0", "INPUT.SSD.EXPAND_PROB", "0.0", "INPUT.SSD.CROP_MIN_IOUS", "[]",
          "INPUT.RANDOM_FLIP", "none"]


def evaluate(model: torch.nn.Module, cfg, dicts: list[dict]) -> dict:
    mapper = SSDMapper(cfg, is_train=False)
    evaluator = build_evaluator(cfg, cfg.DATASETS.TRAIN[0])
    evaluator.reset()
    inputs = [mapper(copy.deepcopy(d)) for d in dicts]
    with torch.no_grad():
        outputs = model(inputs)
    evaluator.process(inputs, outputs)
    # Only these images: detectron2's COCOEvaluator otherwise scores every image of the json.
    return evaluator.evaluate(img_ids=[d["image_id"] for d in dicts])["bbox"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config-file", default=CONFIG)
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("opts", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    setup_logger(name="fvcore")
    torch.manual_seed(args.seed)
    cfg = load_config_file(args.config_file, NO_AUG + args.opts)
    dicts = DatasetCatalog.get(cfg.DATASETS.TRAIN[0])[: args.images]
    train_mapper = SSDMapper(cfg, is_train=True)
    batch = [train_mapper(copy.deepcopy(d)) for d in dicts]
    model = Trainer.build_model(cfg).train()
    opt = Trainer.build_optimizer(cfg, model)
    sched = Trainer.build_lr_scheduler(cfg, opt)
    s = cfg.SOLVER
    print(f"{args.images} images, {sum(len(b['instances']) for b in batch)} objects; LR {s.BASE_LR}, "
          f"warm-up {s.WARMUP_ITERS}, {args.iters} iterations", flush=True)
    t0 = time.time()
    for it in range(args.iters):
        losses = model(batch)
        total = sum(losses.values())
        if not math.isfinite(total.item()):
            print(f"iter {it}: loss {total.item()} (diverged)")
            break
        opt.zero_grad()
        total.backward()
        opt.step()
        sched.step()
        if it % 25 == 0 or it == args.iters - 1:
            print(f"iter {it}: " + ", ".join(f"{k} {v.item():.3f}" for k, v in losses.items()) +
                  f", lr {opt.param_groups[0]['lr']:.4f}", flush=True)
    print(f"train {time.time() - t0:.0f} s")
    res_eval = evaluate(model.eval(), cfg, dicts)
    # The model in inference mode, its BNs normalising with the batch's own statistics.
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.train()
    res_train_bn = evaluate(model, cfg, dicts)
    print(f"AP on the {args.images} training images: BN eval mode (running stats) {res_eval['AP']:.1f} "
          f"(AP50 {res_eval['AP50']:.1f}); BN batch statistics {res_train_bn['AP']:.1f} (AP50 {res_train_bn['AP50']:.1f})")


if __name__ == "__main__":
    main()
