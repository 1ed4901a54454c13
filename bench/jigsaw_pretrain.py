#!/usr/bin/env python
"""Jigsaw (Montage) pre-training on the embedded shapes data, one row per invocation; every row
stores its result in ``--out`` (``<row>[_seed<N>].json``) and ``--table`` prints all stored rows.
Run training rows alone on the machine (timings), each a separate invocation.

Rows:
- ``data``: object-fill fraction of the samples and of the canvas cells; how far the ERF-adaptive
  targets are from uniform (mean entropy against ln(K)) and how much they depend on the position,
  for the randomly initialised backbone at several canvas sizes / feature maps. No training.
- ``probe``: seconds per iteration of the detector, of jigsaw phase 1 and of direct
  pre-training's phase 1, and the jigsaw mapper's throughput (canvases/s, one worker).
- ``phase1``: jigsaw phase 1 alone for ``--phase1-iters`` iterations, then the dense
  classification's accuracy on held-out canvases (shapes_val); the loss against its floor.
- ``scratch`` / ``jigsaw`` / ``direct`` (``--seed``): the same Faster R-CNN R18-FPN trained for
  the same total time ``--budget`` (from ``probe``'s timings): from scratch; jigsaw pre-training
  (``--pretrain-share`` of the time) then fine-tuning; direct (low-resolution detection)
  pre-training then fine-tuning.

    python bench/jigsaw_pretrain.py --row data
    python bench/jigsaw_pretrain.py --row probe
    python bench/jigsaw_pretrain.py --row jigsaw --seed 1
    python bench/jigsaw_pretrain.py --table
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import time

from common import REPO, final_ap, metrics, run, seconds_per_iter

sys.path.insert(0, REPO)  # this checkout's scratchdet, not an installed one

CONFIG = "projects/JigsawPretrain/configs/jigsaw_then_faster_rcnn_R18_FPN_shapes_cpu.yaml"
DIRECT = "projects/DirectPretrain/configs/faster_rcnn_R18_FPN_direct_shapes_cpu.yaml"
COMMON = ["SOLVER.CHECKPOINT_PERIOD", "100000", "SCRATCHDET.VIS.NUM_IMAGES", "0"]
# The same detector in every row: Faster R-CNN R18-FPN, BN trained in the backbone.
DETECTOR = ["MODEL.RESNETS.NORM", "BN"]
ROWS = ("data", "probe", "phase1", "scratch", "jigsaw", "direct")


def _phase1_cfg(opts: list[str] = ()):
    import scratchdet  # noqa: F401  (registration)
    from scratchdet.config import load_config_file
    from scratchdet.engine.run.phases import phase1_config
    from scratchdet.engine.setup.plan import register_run_datasets, resolve_class_counts

    cfg = phase1_config(load_config_file(os.path.join(REPO, CONFIG)))
    cfg.defrost()
    cfg.merge_from_list(["SCRATCHDET.JIGSAW." + k if i % 2 == 0 else k for i, k in enumerate(opts)])
    register_run_datasets(cfg)
    return resolve_class_counts(cfg)  # NUM_CLASSES from the data (rows change keys after: not checked here)


def mapper_throughput(n: int) -> float:
    """Canvases per second of the JigsawMapper in this process (one worker)."""
    from detectron2.data import DatasetCatalog

    from scratchdet.data import build_mapper

    cfg = _phase1_cfg()
    mapper = build_mapper(cfg, is_train=True)  # sample extraction happens here, not timed
    dicts = DatasetCatalog.get(cfg.DATASETS.TRAIN[0])
    t0 = time.perf_counter()
    for i in range(n):
        mapper(dicts[i % len(dicts)])
    return n / (time.perf_counter() - t0)


def fill_stats(num_canvases: int = 400) -> dict:
    """Object-fill fraction of the positive samples (object area / crop area) and of the canvas
    cells (visible object area / cell area, cells showing a positive)."""
    import numpy as np

    from scratchdet.data import build_mapper
    from scratchdet.data.jigsaw import cell_object_fill, object_fill

    cfg = _phase1_cfg()
    mapper = build_mapper(cfg, is_train=True)
    crop = object_fill(mapper.samples)
    np.random.seed(0)
    cells = []
    for _ in range(num_canvases):
        d = mapper({})
        pos = (d["cell_labels"] != mapper.samples.num_classes).numpy()
        cells.extend(cell_object_fill(d["cells"].numpy(), d["cell_objects"].numpy())[pos].tolist())
    cells = np.array(cells)
    q = lambda a: {"median": float(np.median(a)), "mean": float(a.mean()),  # noqa: E731
                   "p10": float(np.quantile(a, 0.1)), "p90": float(np.quantile(a, 0.9))}
    return {"samples": q(crop), "cells": q(cells), "num_samples": int(len(crop)), "num_cells": int(len(cells)),
            "canvas_size": cfg.SCRATCHDET.JIGSAW.CANVAS_SIZE, "enlarge": cfg.SCRATCHDET.JIGSAW.ENLARGE,
            "summary": mapper.samples.summary()}


def target_stats(canvas: int, feature: str, tau: float, num_canvases: int = 32) -> dict:
    """ERF-adaptive targets of a randomly initialised backbone on ``num_canvases`` training
    canvases: their mean entropy (aggregated as the loss: the loss floor) against ln(K); the
    share of positions whose own weight is clamped at tau; the mean own weight; the mean total
    variation between a position's target and the mean target of its cell (0: the targets do not
    depend on the position inside a cell)."""
    import numpy as np
    import torch
    from detectron2.modeling import build_model

    from scratchdet.data import build_mapper
    from scratchdet.modeling.jigsaw import soft_targets, target_entropy

    cfg = _phase1_cfg(["CANVAS_SIZE", str(canvas), "IN_FEATURE", feature, "TAU", str(tau), "ERF_POOL", "1"])
    cfg.defrost()
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res4", "res5"]
    torch.manual_seed(0)
    model = build_model(cfg)
    mapper = build_mapper(cfg, is_train=True)
    np.random.seed(0)
    batch = [mapper({}) for _ in range(num_canvases)]
    images = model.preprocess_image(batch).tensor
    model.refresh_erf(images)
    with torch.no_grad():
        feat_hw = tuple(model._features(images[:1]).shape[-2:])
    cells = torch.stack([d["cells"] for d in batch])
    labels = torch.stack([d["cell_labels"] for d in batch])
    k = model.num_classes + 1
    w, own = model.label_weights(cells, feat_hw, tuple(images.shape[-2:]))
    t = soft_targets(w, labels, k)  # (N, K, P)
    own_w = (w * own).sum(1)[own.any(1)]
    tv = []
    for n in range(len(batch)):
        for c in range(4):
            m = own[n, c]
            if m.sum() > 1:
                tc = t[n][:, m]
                tv.append(float(0.5 * (tc - tc.mean(1, keepdim=True)).abs().sum(0).mean()))
    return {"canvas": canvas, "feature": feature, "grid": list(feat_hw), "tau": tau,
            "entropy": float(target_entropy(t, own)), "ln_K": math.log(k), "erf_radius_px": model.erf_radius,
            "clamped_at_tau": float((own_w <= tau + 1e-6).float().mean()), "mean_own_weight": float(own_w.mean()),
            "within_cell_tv": float(np.mean(tv)) if tv else 0.0}


def _save(out: str, name: str, res: dict) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


def _load(out: str, name: str) -> dict:
    path = os.path.join(out, name + ".json")
    if not os.path.isfile(path):
        raise SystemExit(f"{path} is missing: run --row {name.split('_seed')[0]} first.")
    with open(path) as f:
        return json.load(f)


def _iters(budget: float, s_per_iter: float) -> int:
    return max(1, round(budget / s_per_iter))


def _steps(n: int) -> str:
    return f"({int(n * 0.8)},)"


def _phase1_curve(run_dir: str) -> dict:
    """First/last logged jigsaw loss, loss floor and training cell accuracy of phase 1."""
    rows = [m for m in metrics(os.path.join(run_dir, "phase1")) if "total_loss" in m]
    pick = lambda m: {k: m.get(k) for k in ("iteration", "total_loss", "jigsaw_loss_floor", "jigsaw_cell_acc")}  # noqa: E731
    return {"first": pick(rows[0]), "last": pick(rows[-1])} if rows else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--row", choices=ROWS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--table", action="store_true", help="print the stored results")
    ap.add_argument("--budget", type=float, default=200, help="training seconds of each equal-time row")
    ap.add_argument("--pretrain-share", type=float, default=0.5)
    ap.add_argument("--probe-iters", type=int, default=20)
    ap.add_argument("--phase1-iters", type=int, default=1000)
    ap.add_argument("--out", default="output/bench_jigsaw")
    args = ap.parse_args()
    out, seed = args.out, ["SEED", str(args.seed)]
    name = f"{args.row}_seed{args.seed}" if args.row in ("scratch", "jigsaw", "direct") else args.row
    run_dir = os.path.join(out, name)

    if args.row == "data":
        res = {"fill": fill_stats(), "targets": [target_stats(c, f, 0.7) for c, f in
                                                  ((128, "res5"), (128, "res4"), (256, "res5"))]}
        _save(out, "data", res)
    elif args.row == "probe":
        canvases_per_s = mapper_throughput(200)
        p = f"{out}/probe"
        run(["--config-file", CONFIG, *COMMON, "SCRATCHDET.RUN_PHASES", "pretrain",
             "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(args.probe_iters), "OUTPUT_DIR", f"{p}/jigsaw"])
        run(["--config-file", CONFIG, *COMMON, *DETECTOR, "SCRATCHDET.PHASE1.ENABLED", "False",
             "SOLVER.MAX_ITER", str(args.probe_iters), "DATASETS.TEST", "()", "OUTPUT_DIR", f"{p}/detector"])
        run(["--config-file", DIRECT, *COMMON, "SCRATCHDET.RUN_PHASES", "pretrain",
             "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(args.probe_iters), "OUTPUT_DIR", f"{p}/direct"])
        t = {"jigsaw": seconds_per_iter(f"{p}/jigsaw/phase1"), "detector": seconds_per_iter(f"{p}/detector"),
             "direct": seconds_per_iter(f"{p}/direct/phase1")}
        _save(out, "probe", {"s_per_iter": t, "mapper_canvases_per_s": canvases_per_s,
                             "model_canvases_per_s": 16 / t["jigsaw"]})
    elif args.row == "phase1":
        n = args.phase1_iters
        r = run(["--config-file", CONFIG, *COMMON, *seed, "SCRATCHDET.RUN_PHASES", "pretrain",
                 "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(n), "SCRATCHDET.PHASE1.TEST.EVAL_PERIOD", str(n),
                 "OUTPUT_DIR", run_dir])
        with open(os.path.join(run_dir, "phase1", "final_results.json")) as f:
            held_out = json.load(f)["jigsaw"]
        _save(out, "phase1", {"iters": n, "wall_s": r["wall_s"], "curve": _phase1_curve(run_dir), "held_out": held_out})
    elif args.row in ("scratch", "jigsaw", "direct"):
        t = _load(out, "probe")["s_per_iter"]
        b, share = args.budget, args.pretrain_share
        if args.row == "scratch":
            it = [_iters(b, t["detector"])]
            r = run(["--config-file", CONFIG, *COMMON, *DETECTOR, *seed, "SCRATCHDET.PHASE1.ENABLED", "False",
                     "SOLVER.MAX_ITER", str(it[0]), "SOLVER.STEPS", _steps(it[0]), "OUTPUT_DIR", run_dir])
        else:
            cfg, pre = (CONFIG, t["jigsaw"]) if args.row == "jigsaw" else (DIRECT, t["direct"])
            it = [_iters(b * share, pre), _iters(b * (1 - share), t["detector"])]
            # Direct pre-training keeps phase 1's LR constant after warm-up (the paper, and the
            # config); jigsaw's phase 1 has its cosine schedule, whose STEPS are unused.
            p1_steps = _steps(it[0]) if args.row == "jigsaw" else "()"
            r = run(["--config-file", cfg, *COMMON, *DETECTOR, *seed, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(it[0]),
                     "SCRATCHDET.PHASE1.SOLVER.STEPS", p1_steps, "SOLVER.MAX_ITER", str(it[1]),
                     "SOLVER.STEPS", _steps(it[1]), "OUTPUT_DIR", run_dir])
        ap_, ap50 = final_ap(run_dir)
        res = {"row": args.row, "seed": args.seed, "budget_s": b, "iters": it, "wall_s": r["wall_s"],
               "AP": ap_, "AP50": ap50}
        if args.row == "jigsaw":
            res["phase1"] = _phase1_curve(run_dir)
        _save(out, name, res)
    if args.table:
        print_table(out)


def print_table(out: str) -> None:
    for path in sorted(glob.glob(os.path.join(out, "*.json"))):
        if os.path.basename(path) in ("data.json", "probe.json", "phase1.json"):
            with open(path) as f:
                print(os.path.basename(path), json.dumps(json.load(f), indent=1))
    rows = {}
    for path in sorted(glob.glob(os.path.join(out, "*_seed*.json"))):
        with open(path) as f:
            r = json.load(f)
        rows.setdefault(r["row"], []).append(r)
    print("| start | seed | iterations | wall-clock (s) | box AP | AP50 |\n|---|---|---|---|---|---|")
    for row in ("scratch", "jigsaw", "direct"):
        for r in sorted(rows.get(row, []), key=lambda r: r["seed"]):
            print(f"| {row} | {r['seed']} | {' + '.join(map(str, r['iters']))} | {r['wall_s']:.0f} | "
                  f"{r['AP']:.1f} | {r['AP50']:.1f} |")
        if len(rows.get(row, [])) > 1:
            aps = [r["AP"] for r in rows[row]]
            print(f"| {row} | mean | | | {sum(aps) / len(aps):.1f} | |")


if __name__ == "__main__":
    main()
