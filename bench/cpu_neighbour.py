#!/usr/bin/env python
"""CPU threads beside a busy neighbour: the demo config for --iters iterations, alone and beside
one busy single-threaded process (a Python busy loop this script starts before the run and
kills after it), with the automatic thread / worker choice (SCRATCHDET.CPU, the default) and
with the old fixed one (torch's default of one thread per physical core, the config's
DATALOADER.NUM_WORKERS: SCRATCHDET.CPU.NUM_THREADS -1, CAP_WORKERS False), and three probes of
what is possible: one thread (the floor of the ratio on two cores), loading in the main
process, and two threads whose OpenMP waits sleep instead of spin (OMP_WAIT_POLICY=PASSIVE).
Runs alternate (every setting alone, then every setting beside, --rounds times);
OMP_NUM_THREADS and OMP_WAIT_POLICY are removed from the runs' environment so that the choice
is the script's, not the shell's.

s/iter is detectron2's "Overall training speed" of each run (warm-up iterations excluded).
Goal: beside the neighbour, within 1.5x of alone.

    .venv/bin/python bench/cpu_neighbour.py --iters 40 --rounds 1
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys

from common import REPO

CONFIG = "configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml"
PASSIVE = "two threads, passive waits (NUM_THREADS 2, OMP_WAIT_POLICY=PASSIVE)"
SETTINGS = {
    "old (torch default threads, config workers)": ["SCRATCHDET.CPU.NUM_THREADS", "-1",
                                                    "SCRATCHDET.CPU.CAP_WORKERS", "False"],
    "auto (SCRATCHDET.CPU defaults)": [],
    # The floor of the ratio: one core's speed. Beside a neighbour that takes one of two cores,
    # "auto beside / auto alone" cannot go below "one thread alone / auto alone".
    "one thread (SCRATCHDET.CPU.NUM_THREADS 1)": ["SCRATCHDET.CPU.NUM_THREADS", "1"],
    # Whether a loader worker sharing the one free core costs more than loading in the main process.
    "auto, loading in the main process (DATALOADER.NUM_WORKERS 0)": ["DATALOADER.NUM_WORKERS", "0"],
    # Two threads that sleep instead of spinning while they wait for each other (libgomp's
    # OMP_WAIT_POLICY, read when torch loads, so set in the run's environment): a descheduled
    # thread then no longer burns the core its partner needs.
    PASSIVE: ["SCRATCHDET.CPU.NUM_THREADS", "2"],
}
ENV = {PASSIVE: {"OMP_WAIT_POLICY": "PASSIVE"}}  # per-setting environment


def one_run(opts: list[str], iters: int, out: str, extra_env: dict[str, str]) -> tuple[float, str]:
    """(s/iter, the logged thread choice) of one train_net.py run."""
    args = ["--config-file", CONFIG, "SOLVER.MAX_ITER", str(iters), "SOLVER.CHECKPOINT_PERIOD", "100000",
            "DATASETS.TEST", "()", "SCRATCHDET.VIS.NUM_IMAGES", "0", "OUTPUT_DIR", out, *opts]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env["PYTHONWARNINGS"] = "ignore"
    env.update(extra_env)
    proc = subprocess.run([sys.executable, "train_net.py", *args], cwd=REPO, env=env, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"train_net.py {' '.join(args)} failed:\n{log[-3000:]}")
    speed = re.findall(r"Overall training speed: \d+ iterations in \S+ \(([\d.]+) s / it\)", log)
    choice = re.findall(r"CPU: (.*?)\. Override", log)
    return float(speed[-1]), (choice[-1] if choice else "torch default")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out", default="output/bench_cpu_neighbour")
    args = ap.parse_args()
    res: dict[tuple[str, str], list[float]] = {}
    choices: dict[tuple[str, str], str] = {}
    for r in range(args.rounds):
        for where in ("alone", "beside a busy process"):
            for name, opts in SETTINGS.items():
                neighbour = None
                if where != "alone":
                    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                try:
                    s, choice = one_run(opts, args.iters, os.path.join(args.out, f"r{r}"), ENV.get(name, {}))
                finally:
                    if neighbour is not None:
                        neighbour.kill()
                        neighbour.wait()
                res.setdefault((name, where), []).append(s)
                choices[(name, where)] = choice
                print(f"round {r + 1}, {where}, {name}: {s:.4f} s/iter  [{choice}]", flush=True)
    print(f"\n{args.rounds} round(s) of {args.iters} iterations, demo config, median over rounds\n")
    print("| threads / workers | alone (s/iter) | beside a busy process (s/iter) | beside / alone |\n|---|---|---|---|")
    for name in SETTINGS:
        a = statistics.median(res[(name, "alone")])
        b = statistics.median(res[(name, "beside a busy process")])
        print(f"| {name} | {a:.3f} | {b:.3f} | **{b / a:.2f}x** |")
    old, auto, one = list(SETTINGS)[:3]
    a_old = statistics.median(res[(old, "alone")])
    a_auto = statistics.median(res[(auto, "alone")])
    print(f"\nauto beside / old alone: {statistics.median(res[(auto, 'beside a busy process')]) / a_old:.2f}x; "
          f"auto alone / old alone: {a_auto / a_old:.2f}x; "
          f"floor (one thread alone / auto alone): {statistics.median(res[(one, 'alone')]) / a_auto:.2f}x")
    if args.rounds > 1:
        for (name, where), v in res.items():
            print(f"spread, {where}, {name}: {min(v):.3f} - {max(v):.3f} s/iter")
    for k, v in choices.items():
        print(f"choice, {k[1]}, {k[0]}: {v}")


if __name__ == "__main__":
    main()
