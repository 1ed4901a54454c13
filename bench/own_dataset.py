#!/usr/bin/env python
"""A new small dataset, the nuclei tiles, as the worked example of docs/own_dataset.md: (a) from
scratch without augmentation against (b) the recommended recipe, each for several seeds with the
same number of iterations (wall-clock reported), box/mask AP on the held-out part of the image,
and box AP on the training tiles (over-fitting). Prints mean and spread per recipe.

    .venv/bin/python datasets/prepare_nuclei.py          # once
    .venv/bin/python bench/own_dataset.py --recipes scratch --seeds 0 --out output/bench_own   # one run
    .venv/bin/python bench/own_dataset.py --out output/bench_own                             # all, then the table
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

from common import final_ap, run

RECIPES = {"scratch": "configs/OwnData/nuclei_scratch.yaml", "recipe": "configs/OwnData/nuclei_recipe.yaml"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--iters", type=int, default=0, help="override SOLVER.MAX_ITER (0: the configs')")
    ap.add_argument("--out", default="output/bench_own")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "results.json")
    results = json.load(open(path)) if os.path.isfile(path) else {}  # runs of earlier invocations
    for name in args.recipes:
        for seed in args.seeds:
            out = os.path.join(args.out, f"{name}_seed{seed}")
            extra = ["SOLVER.MAX_ITER", str(args.iters)] if args.iters else []
            r = run(["--config-file", RECIPES[name], "SEED", str(seed), *extra, "OUTPUT_DIR", out])
            box, segm = final_ap(out, "bbox"), final_ap(out, "segm")
            weights = os.path.join(out, "model_final.pth")
            run(["--config-file", RECIPES[name], "--eval-only", "MODEL.WEIGHTS", weights,
                 "DATASETS.TEST", "('nuclei_train',)", "OUTPUT_DIR", os.path.join(out, "train_eval")])
            with open(os.path.join(out, "train_eval", "eval_results.json")) as f:
                train_ap = json.load(f)["bbox"]["AP"]
            results[f"{name}/{seed}"] = {"bbox_AP": box[0], "bbox_AP50": box[1], "segm_AP": segm[0],
                                         "train_bbox_AP": train_ap, "wall_s": r["wall_s"]}
            print(name, seed, results[f"{name}/{seed}"], flush=True)
            with open(path, "w") as f:
                json.dump(results, f, indent=1)
    print("\n| recipe | seeds | box AP (held-out) | AP50 | mask AP | box AP on train tiles | wall-clock (s) |")
    print("|---|---|---|---|---|---|---|")
    for name in RECIPES:
        rows = [v for k, v in results.items() if k.split("/")[0] == name]
        if not rows:
            continue

        def ms(key, rows=rows):
            vals = [r[key] for r in rows]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            return f"{statistics.mean(vals):.1f} ± {sd:.1f}"
        print(f"| {name} | {len(rows)} | {ms('bbox_AP')} | {ms('bbox_AP50')} | {ms('segm_AP')} | "
              f"{ms('train_bbox_AP')} | {statistics.mean(r['wall_s'] for r in rows):.0f} |")


if __name__ == "__main__":
    main()
