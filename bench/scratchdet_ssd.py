#!/usr/bin/env python
"""ScratchDet SSD ablations on the embedded shapes data, one row and seed per invocation (so
each run fits one exclusive CPU slot); results are stored as one json per run under --out, and
`table` prints them with mean and spread over seeds.

Rows (all Root-ResNet-18 SSD at 128 px, same six levels and default boxes, same schedule):
  bn_all            BN in backbone, extra layers and head (ScratchDet), LR 0.05
  bn_backbone       BN in backbone and extra layers only (MODEL.SSD.HEAD_NORM "")
  no_bn             no norm at all (a divergence is recorded as a result, not a crash)
  no_bn_lr0.001     no norm at all, at the original SSD's LR 0.001 (the paper's no-BN baseline)
  bn_all_lr_scaled, bn_backbone_lr_scaled
                    the two above at the paper's LR per image (0.05 x 8 / 128 = 0.003125)
  basic_stem        ResNet's 7x7 stem, equal iterations (levels from res2..res5 + 2 extras)
  basic_stem_time   ResNet's 7x7 stem, equal *time*: iterations scaled by the stored
                    s/iteration of bn_all over basic_stem, both of seed 0 (run those first);
                    speed is the machine's, not the seed's, so every seed uses that one ratio
  extra_avgpool     extra layers with the average-pool shortcut instead of the strided one
  basic_stem_extra_avgpool  the same on the basic-stem SSD, against basic_stem

    .venv/bin/python bench/scratchdet_ssd.py run --row bn_all --seed 0 --iters 800
    .venv/bin/python bench/scratchdet_ssd.py run --row bn_all --seed 0 --iters 800 --time-limit 450  # a chunk
    .venv/bin/python bench/scratchdet_ssd.py table

A run stopped by --time-limit is stored as "incomplete"; the same command again resumes it from
its last checkpoint (detectron2's --resume) until it finishes.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

from common import FIXED_THREADS, REPO, final_ap, seconds_per_iter

CONFIG = "projects/ScratchDet/configs/scratchdet_rootres18_shapes_cpu.yaml"
BASIC = "projects/ScratchDet/configs/scratchdet_res18_shapes_basicstem_cpu.yaml"
ROWS: dict[str, tuple[str, list[str]]] = {
    "bn_all": (CONFIG, []),
    "bn_backbone": (CONFIG, ["MODEL.SSD.HEAD_NORM", ""]),
    "no_bn": (CONFIG, ["MODEL.RESNETS.NORM", "", "MODEL.SSD.HEAD_NORM", ""]),
    # The paper's no-BN baseline trains at the original SSD's small LR (0.001).
    "no_bn_lr0.001": (CONFIG, ["MODEL.RESNETS.NORM", "", "MODEL.SSD.HEAD_NORM", "", "SOLVER.BASE_LR", "0.001"]),
    # The paper's LR per image: 0.05 at batch 128 is 0.003125 at our batch 8 (linear scaling).
    "bn_all_lr_scaled": (CONFIG, ["SOLVER.BASE_LR", "0.003125"]),
    "bn_backbone_lr_scaled": (CONFIG, ["MODEL.SSD.HEAD_NORM", "", "SOLVER.BASE_LR", "0.003125"]),
    "basic_stem": (BASIC, []),
    "basic_stem_time": (BASIC, []),
    "extra_avgpool": (CONFIG, ["MODEL.SSD.EXTRA_SHORTCUT", "avgpool"]),
    # The same shortcut comparison on the basic-stem SSD (about 4x cheaper per iteration), to be
    # read against basic_stem.
    "basic_stem_extra_avgpool": (BASIC, ["MODEL.SSD.EXTRA_SHORTCUT", "avgpool"]),
}
TIME_REF_SEED = 0
DIVERGED = ("FloatingPointError", "Loss became infinite or NaN", "Training diverged")
DIVERGED_AT = re.compile(r"infinite or NaN at iteration=(\d+)")


def _diverged_at(record: dict, out: str) -> str:
    """The iteration at which a diverged run stopped (from its record, or its log.txt)."""
    if "diverged_at" in record:
        return str(record["diverged_at"])
    log = os.path.join(out, f"{record['row']}_s{record['seed']}", "log.txt")
    found = DIVERGED_AT.findall(open(log).read()) if os.path.exists(log) else []
    return found[-1] if found else "?"


def _result_path(out: str, row: str, seed: int) -> str:
    return os.path.join(out, f"{row}_s{seed}.json")


def _load(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _iters(args: argparse.Namespace) -> int:
    if args.row != "basic_stem_time":
        return args.iters
    # One timing pair for every seed: a seed's run may have shared the CPU for a while (bn_all seed 1
    # did), and the ratio of step times does not depend on the seed.
    ref = [_load(_result_path(args.out, r, TIME_REF_SEED)) for r in ("bn_all", "basic_stem")]
    if any(r is None or r.get("status") != "done" for r in ref):
        raise SystemExit(f"basic_stem_time needs finished bn_all and basic_stem runs of seed {TIME_REF_SEED} "
                         "(their s/iteration); run those first.")
    return round(args.iters * ref[0]["s_per_iter"] / ref[1]["s_per_iter"])


def run_row(args: argparse.Namespace) -> dict:
    config, opts = ROWS[args.row]
    iters = _iters(args)
    out_dir = os.path.join(args.out, f"{args.row}_s{args.seed}")
    # MAX_TO_KEEP 1: resuming needs only the newest periodic checkpoint (keeping all of them took over 1 GB per run).
    sched = ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", f"({int(iters * 0.75)}, {int(iters * 0.9)})",
             "SOLVER.CHECKPOINT_PERIOD", str(args.checkpoint_period), "SCRATCHDET.CHECKPOINT.MAX_TO_KEEP", "1",
             "SCRATCHDET.VIS.NUM_IMAGES", "0",
             "TEST.EVAL_PERIOD", "0", "SEED", str(args.seed), "OUTPUT_DIR", out_dir, *FIXED_THREADS]
    cmd = [sys.executable, "train_net.py", "--config-file", config, *opts, *sched]
    if os.path.exists(os.path.join(out_dir, "last_checkpoint")):
        cmd.insert(2, "--resume")
    t0 = time.time()
    record = {"row": args.row, "seed": args.seed, "iters": iters, "config": config, "opts": opts}
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=args.time_limit,
                              env=dict(os.environ, PYTHONWARNINGS="ignore"))
    except subprocess.TimeoutExpired:
        record.update(status="incomplete", note=f"stopped after {args.time_limit} s; run again to resume")
        return record
    record["wall_s"] = time.time() - t0
    if proc.returncode != 0:
        log = proc.stderr + proc.stdout
        if any(s in log for s in DIVERGED):
            # The paper's point is stability: a NaN loss is a result of the row, not a bench failure.
            at = DIVERGED_AT.findall(log)
            record.update(status="diverged", AP=float("nan"), AP50=float("nan"),
                          diverged_at=int(at[-1]) if at else None)
            return record
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    ap, ap50 = final_ap(out_dir)
    record.update(status="done", AP=ap, AP50=ap50, s_per_iter=seconds_per_iter(out_dir))
    return record


def _fmt(values: list[float]) -> str:
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.1f}"
    return f"{statistics.mean(vals):.1f} ± {statistics.stdev(vals):.1f}"


def _diverged(runs: list[dict], out: str) -> str:
    div = [r for r in runs if r["status"] == "diverged"]
    return f"{len(div)} ({', '.join(_diverged_at(r, out) for r in div)})" if div else "0"


def table(out: str) -> str:
    """Markdown table of the stored runs: mean ± standard deviation over the finished seeds."""
    rows = {}
    for path in sorted(glob.glob(os.path.join(out, "*_s*.json"))):
        r = _load(path)
        rows.setdefault(r["row"], []).append(r)
    lines = ["| row | seeds done | diverged (at iteration) | incomplete | iterations | box AP | AP50 | s / iteration |",
             "|---|---|---|---|---|---|---|---|"]
    for name in [n for n in ROWS if n in rows]:
        runs = rows[name]
        done = [r for r in runs if r["status"] == "done"]
        lines.append(
            f"| {name} | {len(done)} | {_diverged(runs, out)} | "
            f"{sum(r['status'] == 'incomplete' for r in runs)} | {'/'.join(str(r['iters']) for r in runs)} | "
            f"{_fmt([r['AP'] for r in done])} | {_fmt([r['AP50'] for r in done])} | "
            f"{_fmt([r['s_per_iter'] for r in done]) if done else '-'} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--row", choices=list(ROWS), required=True)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--iters", type=int, default=800)
    r.add_argument("--time-limit", type=float, default=None, help="seconds; stop (resumable) after this")
    r.add_argument("--checkpoint-period", type=int, default=100)
    r.add_argument("--out", default="output/bench_scratchdet_ssd")
    t = sub.add_parser("table")
    t.add_argument("--out", default="output/bench_scratchdet_ssd")
    args = ap.parse_args()
    if args.cmd == "run":
        record = run_row(args)
        os.makedirs(args.out, exist_ok=True)
        with open(_result_path(args.out, args.row, args.seed), "w") as f:
            json.dump(record, f, indent=1)
        print(record)
    print(table(args.out))


if __name__ == "__main__":
    main()
