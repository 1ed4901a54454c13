#!/usr/bin/env python
"""Per-step cost of scratchdet's Trainer against detectron2's own DefaultTrainer, on the same
config, model, optimizer and mapper: the demo config and phase 2 of a two-phase config.

Each run is a fresh subprocess; the trainers alternate (scratchdet, detectron2, scratchdet
without its extra hooks, then again, --rounds times) so that a drift of the machine hits all of
them alike. An iteration is timed from one ``before_step`` to the next: the training step plus
every hook's work (metrics writer, checkpointer, scratchdet's hooks), data waiting included.
Reported: median and mean s/iter of each trainer (medians of the per-run medians), the ratio
to detectron2 (goal <= 1.02), the spread over rounds, and the time each scratchdet hook takes
per iteration on average, so that no hook adds per-step cost unseen.

What scratchdet's Trainer adds, and where it costs:
* start-up only: dataset checks (files, boxes, classes), norm policy and scratch init of the model,
  the CPU thread choice (a 0.2 s /proc/stat sample), hand-over of weights (phase 2);
* per step: LossCurveHook (draws loss_curve.png every SCRATCHDET.VIS.LOSS_CURVE_PERIOD
  iterations: invisible in detectron2's "time", visible in the mean here), config hooks
  (SCRATCHDET.HOOKS, none in these configs), BestCheckpointHook (only with TEST.EVAL_PERIOD > 0);
* at checkpoints: the atomic checkpointer (write to a temporary file, then rename);
* after training only: PredictionPNGHook.
The variant "scratchdet, no extra hooks" is scratchdet's Trainer with detectron2's hooks only.

    .venv/bin/python bench/step_overhead.py --rounds 2 --iters 60
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import REPO

CONFIGS = {
    "demo": ("configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml", False),
    "two-phase, phase 2": ("projects/DirectPretrain/configs/faster_rcnn_R18_FPN_direct_shapes_cpu.yaml", True),
}
TRAINERS = ("scratchdet", "detectron2", "scratchdet, no extra hooks")
WARMUP = 5  # first iterations (allocations, worker start-up) are not timed


def child(trainer: str, config: str, phase2: bool, iters: int, out: str) -> None:
    """One training run in this process; prints one JSON line with its timings."""
    sys.path.insert(0, REPO)
    os.environ.setdefault("SCRATCHDET_SHAPES_ROOT", os.path.join(REPO, "datasets", "scratchdet_shapes"))
    import logging

    from detectron2.engine import DefaultTrainer, HookBase

    import scratchdet  # noqa: F401  (registration)
    from scratchdet.config import load_config_file
    from scratchdet.data import build_mapper
    from scratchdet.engine import Trainer
    from scratchdet.engine.run.phases import phase2_config
    from scratchdet.engine.setup.plan import resolve_config
    from scratchdet.engine.train.cpu_threads import configure_cpu

    logging.getLogger("detectron2").setLevel(logging.WARNING)
    logging.getLogger("scratchdet").setLevel(logging.WARNING)
    # The final evaluation and the PNG of predictions come after training: not per step, skipped.
    opts = ["SOLVER.MAX_ITER", str(iters), "OUTPUT_DIR", out, "DATASETS.TEST", "()", "TEST.EVAL_PERIOD", "0",
            "SCRATCHDET.VIS.NUM_IMAGES", "0",
            # one loss-curve draw inside a 60-iteration run (the demo draws every 100 iterations)
            "SCRATCHDET.VIS.LOSS_CURVE_PERIOD", "50"]
    cfg = load_config_file(os.path.join(REPO, config), opts)
    if phase2:  # phase 2's config and model; no phase-1 weights (the hand-over is start-up only)
        cfg = phase2_config(cfg, source="")
    cfg = resolve_config(cfg, training=True)

    class Detectron2Trainer(DefaultTrainer):
        """detectron2's DefaultTrainer as a detectron2 user writes it, given the same model
        (scratchdet's build: norm policy, scratch init), optimizer and mapper."""

        @classmethod
        def build_model(cls, cfg):
            return Trainer.build_model(cfg)

        @classmethod
        def build_optimizer(cls, cfg, model):
            return Trainer.build_optimizer(cfg, model)

        @classmethod
        def build_train_loader(cls, cfg):
            from detectron2.data import build_detection_train_loader

            return build_detection_train_loader(cfg, mapper=build_mapper(cfg, is_train=True))

    class DetectronHooksOnly(Trainer):
        def build_hooks(self):
            return DefaultTrainer.build_hooks(self)

    if trainer == "scratchdet":
        t = Trainer(cfg)
    elif trainer == "detectron2":
        cfg = configure_cpu(cfg)  # the same threads and workers as scratchdet's Trainer chooses
        t = Detectron2Trainer(cfg)
    else:
        t = DetectronHooksOnly(cfg)

    stamps: list[float] = []
    hook_time: dict[str, float] = {}

    class Clock(HookBase):
        def before_step(self):
            stamps.append(time.perf_counter())

        def after_step(self):  # registered last: the final step's hooks have all run
            if self.trainer.iter == self.trainer.max_iter - 1:
                stamps.append(time.perf_counter())

    def timed(fn, name):
        def wrapper():
            t0 = time.perf_counter()
            fn()
            if t.iter >= t.start_iter + WARMUP:
                hook_time[name] = hook_time.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    for h in t._hooks:
        name = type(h).__name__
        h.before_step, h.after_step = timed(h.before_step, name), timed(h.after_step, name)
    t.register_hooks([Clock()])
    t.resume_or_load(resume=False)
    t.train()
    steps = [b - a for a, b in zip(stamps, stamps[1:])][WARMUP:]
    print("RESULT " + json.dumps({
        "median": statistics.median(steps), "mean": statistics.fmean(steps), "n": len(steps),
        "hooks_ms_per_iter": {k: 1000 * v / len(steps) for k, v in hook_time.items()},
        "threads": __import__("torch").get_num_threads(), "workers": t.cfg.DATALOADER.NUM_WORKERS,
    }))


def run_child(trainer: str, config: str, phase2: bool, iters: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="step_overhead_") as out:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", trainer, "--config", config,
                               "--phase2", str(int(phase2)), "--iters", str(iters), "--out", out],
                              cwd=REPO, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    if proc.returncode != 0:
        raise RuntimeError(f"{trainer} on {config} failed:\n{proc.stderr[-3000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=60, help="iterations per run (the first 5 are not timed)")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--child", choices=TRAINERS, help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--phase2", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.config, bool(args.phase2), args.iters, args.out)

    results: dict[str, dict[str, list[dict]]] = {c: {t: [] for t in TRAINERS} for c in args.configs}
    for r in range(args.rounds):
        for c in args.configs:
            config, phase2 = CONFIGS[c]
            order = TRAINERS[r % len(TRAINERS):] + TRAINERS[:r % len(TRAINERS)]  # rotate who goes first
            for trainer in order:
                res = run_child(trainer, config, phase2, args.iters)
                results[c][trainer].append(res)
                print(f"round {r + 1} {c} {trainer}: median {res['median']:.4f} s/iter, mean {res['mean']:.4f} "
                      f"({res['threads']} threads, {res['workers']} workers)", flush=True)

    print(f"\n{args.rounds} rounds x {args.iters} iterations (first {WARMUP} not timed)\n")
    print("| config | trainer | median s/iter | mean s/iter | ratio to detectron2 (median) | ratio (mean) "
          "| spread of run medians |\n|---|---|---|---|---|---|---|")
    for c in args.configs:
        med = {t: statistics.median(x["median"] for x in results[c][t]) for t in TRAINERS}
        mean = {t: statistics.median(x["mean"] for x in results[c][t]) for t in TRAINERS}
        for t in TRAINERS:
            runs = [x["median"] for x in results[c][t]]
            spread = (max(runs) - min(runs)) / 2 / med[t] * 100
            print(f"| {c} | {t} | {med[t]:.4f} | {mean[t]:.4f} | {med[t] / med['detectron2']:.3f} "
                  f"| {mean[t] / mean['detectron2']:.3f} | ±{spread:.1f}% |")
    print("\nhook time per iteration (ms, mean over runs; LossCurveHook draws once per run here, every 50 "
          "iterations, the demo every 100):\n\n| config | hook | scratchdet | detectron2 |\n|---|---|---|---|")
    for c in args.configs:
        names = dict.fromkeys([*results[c]["scratchdet"][0]["hooks_ms_per_iter"],
                               *results[c]["detectron2"][0]["hooks_ms_per_iter"]])
        for h in names:
            cols = []
            for t in ("scratchdet", "detectron2"):
                v = [x["hooks_ms_per_iter"][h] for x in results[c][t] if h in x["hooks_ms_per_iter"]]
                cols.append(f"{statistics.fmean(v):.2f}" if v else "-")
            print(f"| {c} | {h} | {cols[0]} | {cols[1]} |")


if __name__ == "__main__":
    main()
