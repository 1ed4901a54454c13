#!/usr/bin/env python
"""MAE pre-training + fine-tuning of the tiny plain ViT against the same ViTDet detector from
scratch and after direct (low-resolution detection) pre-training, at the same total training
time, on the embedded shapes data. One row and seed per invocation (so that each fits a short
run), results stored under --out, the table printed from what is stored:

    .venv/bin/python bench/mae_pretrain.py probe --out output/bench_mae          # s/iter of each phase
    .venv/bin/python bench/mae_pretrain.py run --row scratch --seed 0 --budget 240 --out output/bench_mae
    .venv/bin/python bench/mae_pretrain.py run --row mae --seed 0 --budget 240 --out output/bench_mae
    .venv/bin/python bench/mae_pretrain.py run --row direct --seed 0 --budget 240 --out output/bench_mae
    .venv/bin/python bench/mae_pretrain.py table --out output/bench_mae

--data nuclei runs the same rows on the nuclei tiles (datasets/nuclei, 12 training images, one
class); the probe's s/iter does not depend on the data (same model, same 128 px inputs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

from common import NUCLEI, final_ap, load_rows, run, save_row, seconds_per_iter

DET = "projects/ViTDet-Scratch/configs/mask_rcnn_vit_tiny_shapes_cpu.yaml"
DIRECT = "projects/ViTDet-Scratch/configs/mask_rcnn_vit_tiny_direct_shapes_cpu.yaml"
MAE = "projects/MAEPretrain/configs/mae_then_mask_rcnn_vit_tiny_shapes_cpu.yaml"
COMMON = ["SOLVER.CHECKPOINT_PERIOD", "100000", "SCRATCHDET.VIS.NUM_IMAGES", "0", "TEST.EVAL_PERIOD", "0"]
# Nuclei are 5-27 px: anchors one octave smaller than the shapes' (four levels, p2-p5).
DATA = {"shapes": [], "nuclei": [*NUCLEI, "DATASETS.TRAIN", "('nuclei_train',)",
                                 "MODEL.ANCHOR_GENERATOR.SIZES", "[[8], [16], [32], [64]]"]}
ROWS = {"scratch": "ViT from scratch", "direct": "direct pre-training + fine-tuning", "mae": "MAE pre-training + fine-tuning"}


def probe(out: str, iters: int) -> None:
    res = {}
    run(["--config-file", DET, *COMMON, "SOLVER.MAX_ITER", str(iters), "OUTPUT_DIR", f"{out}/probe/det"])
    res["det"] = seconds_per_iter(f"{out}/probe/det")
    for name, cfg in (("mae", MAE), ("direct", DIRECT)):
        run(["--config-file", cfg, *COMMON, "SCRATCHDET.RUN_PHASES", "pretrain", "SCRATCHDET.PHASE1.SOLVER.MAX_ITER",
             str(iters), "SCRATCHDET.PHASE1.SCRATCHDET.MAE.VIS_NUM_IMAGES", "0", "OUTPUT_DIR", f"{out}/probe/{name}"])
        res[name] = seconds_per_iter(f"{out}/probe/{name}/phase1")
    os.makedirs(out, exist_ok=True)
    with open(f"{out}/probe.json", "w") as f:
        json.dump(res, f)
    print(json.dumps(res))


def run_row(out: str, row: str, seed: int, budget: float, share: float, data: str = "shapes") -> None:
    with open(f"{out}/probe.json") as f:
        s = json.load(f)
    d = f"{out}/{row}_s{seed}"
    seed_opts = ["SEED", str(seed), *DATA[data]]
    if row == "scratch":
        it = max(1, round(budget / s["det"]))
        r = run(["--config-file", DET, *COMMON, *seed_opts, "SOLVER.MAX_ITER", str(it),
                 "SOLVER.STEPS", f"({int(it * 0.8)},)", "OUTPUT_DIR", d])
        iters, res_dir = [it], d
    else:
        it1 = max(1, round(budget * share / s[row]))
        it2 = max(1, round(budget * (1 - share) / s["det"]))
        cfg = MAE if row == "mae" else DIRECT
        r = run(["--config-file", cfg, *COMMON, *seed_opts, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(it1),
                 "SCRATCHDET.PHASE1.SOLVER.STEPS", "()", "SOLVER.MAX_ITER", str(it2),
                 "SOLVER.STEPS", f"({int(it2 * 0.8)},)", "OUTPUT_DIR", d])
        iters, res_dir = [it1, it2], d
    box, mask = final_ap(res_dir), final_ap(res_dir, "segm")
    res = {"row": row, "seed": seed, "data": data, "iters": iters, "wall_s": r["wall_s"], "budget_s": budget,
           "box_AP": box[0], "box_AP50": box[1], "mask_AP": mask[0]}
    save_row(f"{d}.json", res)


def table(out: str) -> None:
    results = load_rows(f"{out}/*_s*.json")
    print("| start | seeds | iterations | wall-clock (s) | box AP (mean ± spread) | AP50 | mask AP |")
    print("|---|---|---|---|---|---|---|")
    for row, label in ROWS.items():
        rs = [r for r in results if r["row"] == row]
        if not rs:
            continue
        aps = [r["box_AP"] for r in rs]
        spread = (max(aps) - min(aps)) / 2
        m = {k: statistics.mean(r[k] for r in rs) for k in ("wall_s", "box_AP50", "mask_AP")}
        print(f"| {label} | {len(rs)} | {' + '.join(map(str, rs[0]['iters']))} | {m['wall_s']:.0f} | "
              f"{statistics.mean(aps):.1f} ± {spread:.1f} | {m['box_AP50']:.1f} | {m['mask_AP']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["probe", "run", "table"])
    ap.add_argument("--row", choices=list(ROWS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=240, help="training seconds of every row")
    ap.add_argument("--pretrain-share", type=float, default=0.5, help="share of the budget spent in phase 1")
    ap.add_argument("--probe-iters", type=int, default=20)
    ap.add_argument("--data", choices=list(DATA), default="shapes", help="embedded dataset of the rows")
    ap.add_argument("--out", default="output/bench_mae")
    args = ap.parse_args()
    if args.step == "probe":
        probe(args.out, args.probe_iters)
    elif args.step == "run":
        run_row(args.out, args.row, args.seed, args.budget, args.pretrain_share, args.data)
    else:
        table(args.out)


if __name__ == "__main__":
    main()
