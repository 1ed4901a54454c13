#!/usr/bin/env python
"""Studies that compare training recipes at stated budgets, one row per invocation so that a study
spans sessions. Each finished row appends one JSON line to ``bench/results/<study>.jsonl``
(committed): study, dataset, row, seed, phase1_iters, phase2_iters, train_seconds, box_AP, AP50,
the validation curve and the commit. A row interrupted (killed, session over) continues with
``--resume`` from its last checkpoint when run again; a row already stored is not run again.
Run rows alone on the machine: a row measured beside another training is void (its seconds and
its thread choice are not those of the row).

    python bench/study.py list                                   # studies, rows, what is stored
    python bench/study.py run direct shapes method --seed 0      # one row
    python bench/study.py next direct                            # the command of the next missing row
    python bench/study.py table direct                           # mean ± sd per row, and the PNG

Rows of a two-phase study (the pre-training issue's definition):
- ``method``: the upstream phase trained to its stated point, then the detector for D iterations;
- ``scratch_same_iters``: the same detector from scratch for the same D iterations and schedule
  (isolates the initialisation);
- ``scratch_same_time``: the same detector from scratch for as many iterations as the method's
  mean training seconds buy at scratch's own s/iter (the user's question). Needs both rows above.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

from common import FIXED_THREADS, NUCLEI, REPO, metrics, run

from scratchdet.config.budget_recipe import tta_opts

RESULTS = os.path.join(REPO, "bench", "results")
OUT = os.path.join(REPO, "output", "study")
COMMON = ["SCRATCHDET.VIS.NUM_IMAGES", "0", "SCRATCHDET.CHECKPOINT.MAX_TO_KEEP", "1"]


@dataclass
class Study:
    """``config`` and per-dataset opts; ``rows`` maps a row name to its opts given D (detector
    iterations) and, for time-equal rows, the iterations chosen (``None`` until computable)."""

    config: str
    detector_iters: int
    datasets: dict[str, list[str]]
    rows: dict[str, object]
    two_phase: set[str] = field(default_factory=set)
    note: str = ""
    configs: dict[str, str] = field(default_factory=dict)  # a row's own config instead of ``config``


def _schedule(iters: int, evals: int = 4) -> list[str]:
    """A detector schedule of ``iters``: LR steps at 80% (the configs' shape), ``evals``
    validations for the learning curve, checkpoints often enough to resume a killed row."""
    return ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", f"({int(iters * 0.8)},)",
            "TEST.EVAL_PERIOD", str(max(1, iters // evals)), "SOLVER.CHECKPOINT_PERIOD", str(max(1, iters // evals))]


SHAPES = ["DATASETS.TEST", "('shapes_val',)"]
NUCLEI_DATA = [*NUCLEI, "DATASETS.TRAIN", "('nuclei_train',)", "MODEL.ANCHOR_GENERATOR.SIZES", "[[8], [16], [32], [64], [128]]"]
DIRECT = "projects/DirectPretrain/configs/faster_rcnn_R18_FPN_direct_shapes_cpu.yaml"
SCRATCH_DETECTOR = ["SCRATCHDET.PHASE1.ENABLED", "False", "MODEL.RESNETS.NORM", "BN"]
# The ViT from scratch: every block equally untrained, so no layer-wise LR decay.
SCRATCH_VIT = ["SCRATCHDET.PHASE1.ENABLED", "False", "SCRATCHDET.SOLVER.LAYER_DECAY", "1.0"]
DIRECT_P1 = 1000
JIGSAW = "projects/JigsawPretrain/configs/jigsaw_then_faster_rcnn_R18_FPN_shapes_cpu.yaml"
JIGSAW_RES5 = "projects/JigsawPretrain/configs/jigsaw_res5_then_faster_rcnn_R18_FPN_shapes_cpu.yaml"
JIGSAW_P1 = 1500
MAE = "projects/MAEPretrain/configs/mae_then_mask_rcnn_vit_tiny_shapes_cpu.yaml"
MAE_P1 = 2500
# Phase 1 of jigsaw scores its held-out canvases on the dataset's own validation images.
NUCLEI_P1_TEST = ["SCRATCHDET.PHASE1.DATASETS.TEST", "('nuclei_val',)"]

STUDIES: dict[str, Study] = {
    # Model EMA (issue: user features): the same from-scratch training with and without the average.
    "ema": Study(
        config="configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml", detector_iters=300,
        datasets={"shapes": SHAPES, "nuclei": [*NUCLEI_DATA, "MODEL.ROI_HEADS.NUM_CLASSES", "1",
                                               "SCRATCHDET.DATA.TRAIN_MAPPER", "AugmentedDatasetMapper",
                                               "SCRATCHDET.AUG.VFLIP", "True", "SCRATCHDET.AUG.ROT90", "True",
                                               "INPUT.MIN_SIZE_TRAIN", "(112, 128, 144)", "INPUT.MIN_SIZE_TEST", "128"]},
        rows={"no_ema": lambda d: _schedule(d),
              "ema": lambda d: [*_schedule(d), "SCRATCHDET.EMA.ENABLED", "True", "SCRATCHDET.EMA.WARMUP_ITERS", str(d // 5)],
              # the window sized to the schedule (5% of it), as tools/train_own_data.py sets it
              "ema_window5": lambda d: [*_schedule(d), "SCRATCHDET.EMA.ENABLED", "True",
                                        "SCRATCHDET.EMA.DECAY", f"{1 - 20 / d:.6f}", "SCRATCHDET.EMA.WARMUP_ITERS", str(d // 20)]},
        note="demo model (Mask R-CNN R18-FPN, BN everywhere) from scratch; nuclei with the own-data recipe's augmentation"),
    # Direct pre-training (Li et al. 2021): phase 1 at 64 px, batch 16, constant LR, 1000 iterations.
    "direct": Study(
        config=DIRECT, detector_iters=1000,
        datasets={"shapes": SHAPES, "nuclei": [*NUCLEI_DATA, "MODEL.ROI_HEADS.NUM_CLASSES", "1"]},
        rows={"method": lambda d: [*_schedule(d), "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(DIRECT_P1)],
              "scratch_same_iters": lambda d: [*SCRATCH_DETECTOR, *_schedule(d)],
              "scratch_same_time": lambda iters: [*SCRATCH_DETECTOR, *_schedule(iters)]},
        two_phase={"method"},
        note=f"Faster R-CNN R18-FPN; method: {DIRECT_P1} it of phase 1 at 64 px (batch 16, constant LR), "
             "then the detector at 128 px with BN statistics re-estimated and frozen"),
    # Jigsaw (Montage) pre-training (Zhou et al. 2020): res4 classified on 128 px canvases (the CPU
    # config) and res5 on 256 px canvases (the whole backbone handed over), 1500 iterations each.
    "jigsaw": Study(
        config=JIGSAW, detector_iters=1500, configs={"method_res5": JIGSAW_RES5},
        datasets={"shapes": SHAPES, "nuclei": [*NUCLEI_DATA, *NUCLEI_P1_TEST, "MODEL.ROI_HEADS.NUM_CLASSES", "1"]},
        rows={"method": lambda d: [*_schedule(d), "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(JIGSAW_P1)],
              "method_res5": lambda d: [*_schedule(d), "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(JIGSAW_P1)],
              "scratch_same_iters": lambda d: [*SCRATCH_DETECTOR, *_schedule(d)],
              "scratch_same_time": lambda iters: [*SCRATCH_DETECTOR, *_schedule(iters)]},
        two_phase={"method", "method_res5"},
        note=f"Faster R-CNN R18-FPN; method: {JIGSAW_P1} it of jigsaw phase 1 (16 canvases, LR 0.025, samples "
             "rescaled U(0.8, 1.5) and flipped), backbone handed over, then the detector"),
    # MAE (He et al. 2022) of the tiny ViT, then ViTDet with layer decay 0.75; scratch without it.
    "mae": Study(
        config=MAE, detector_iters=1500,
        datasets={"shapes": SHAPES, "nuclei": [*NUCLEI_DATA, "MODEL.ROI_HEADS.NUM_CLASSES", "1"]},
        rows={"method": lambda d: [*_schedule(d), "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(MAE_P1)],
              "scratch_same_iters": lambda d: [*SCRATCH_VIT, *_schedule(d)],
              "scratch_same_time": lambda iters: [*SCRATCH_VIT, *_schedule(iters)]},
        two_phase={"method"},
        note=f"ViTDet tiny (Mask R-CNN); method: {MAE_P1} it of MAE at batch 32 (LR 1.875e-5 by MAE's rule, "
             "fixed sin-cos positions), then the detector with layer decay 0.75"),
}


# tools/train_own_data.py at a budget, on real data trained on some scenes and tested on others
# (datasets/prepare_*.py). Rows: "<rules>_<minutes>" (rules: budget = the command's, native = the
# earlier recipe at the same budget). Each row then evaluates model_best.pth on the test scenes.
OWN_DATA = {
    "trees": {"train": ("datasets/trees/train.json", "datasets/trees/train"),
              "tests": {"test": ("datasets/trees/test.json", "datasets/trees/test"),
                        "othersites": ("datasets/trees/othersites.json", "datasets/trees/othersites")}},
    "buildings": {"train": ("datasets/buildings/train.json", "datasets/buildings/train"),
                  "tests": {"test": ("datasets/buildings/test.json", "datasets/buildings/test")}},
    "nuclei": {"train": ("datasets/nuclei/train.json", "datasets/nuclei/train"),
               "tests": {"test": ("datasets/nuclei/val.json", "datasets/nuclei/val")}},
    # Street video has an up: no --top-down (vertical flips, 90-degree rotations) for it.
    "pedestrians": {"train": ("datasets/pedestrians/train.json", "datasets/pedestrians/train"),
                    "tests": {"test": ("datasets/pedestrians/test.json", "datasets/pedestrians/test")},
                    "top_down": False},
}
# row -> (rules, minutes, KEY VALUE overrides[, command flags...]). budget = the command's rules at the commit a row
# names; native = the earlier recipe (whole images, LR steps, no EMA). The ablation rows fix what
# they test whatever the rules of the day: the rules until f320d54 were cosine + EMA
# ("cosine_ema_10"); the ablations on nuclei showed the cosine was the cost, and the rules now use
# LR steps with EMA. (Rows stored under the old names budget_10 / budget_noema_10 / native_ema_10
# before that change were renamed to these, each keeping its commit and a "renamed_from".)
COSINE = ["SOLVER.LR_SCHEDULER_NAME", "WarmupCosineLR", "SOLVER.STEPS", "()"]
PHOTO_STRONG = ["SCRATCHDET.AUG.PHOTOMETRIC.BRIGHTNESS", "(0.6, 1.4)", "SCRATCHDET.AUG.PHOTOMETRIC.CONTRAST", "(0.6, 1.4)",
                "SCRATCHDET.AUG.PHOTOMETRIC.SATURATION", "(0.6, 1.4)", "SCRATCHDET.AUG.PHOTOMETRIC.HUE", "0.1"]
SCALE_WIDE = ["SCRATCHDET.AUG.POLICY", "multiscale", "SCRATCHDET.AUG.MULTISCALE.SCALE_RANGE", "(0.6, 1.4)",
              "INPUT.MAX_SIZE_TRAIN", "2000"]
OWN_ROWS = {
    "native_10": ("native", "10", []), "budget_10": ("budget", "10", []),
    "native_40": ("native", "40", []), "budget_40": ("budget", "40", []),
    "cosine_ema_10": ("budget", "10", [*COSINE, "SCRATCHDET.EMA.ENABLED", "True"]),
    "cosine_10": ("budget", "10", [*COSINE, "SCRATCHDET.EMA.ENABLED", "False"]),
    "steps_ema_10": ("native", "10", ["SCRATCHDET.EMA.ENABLED", "True"]),
    # Rule (1)'s bound on the median object (--object-px; the default was 64 until the obj rows
    # below, 16 since): smaller objects, cheaper steps. Trees and pedestrians rows stored as
    # budget_10 at the 64 px bound were renamed obj64_10 (keeping their commit and "renamed_from").
    "obj64_10": ("budget", "10", [], "--object-px", "64"), "obj64_40": ("budget", "40", [], "--object-px", "64"),
    "obj16_10": ("budget", "10", [], "--object-px", "16"), "obj24_10": ("budget", "10", [], "--object-px", "24"),
    "obj32_10": ("budget", "10", [], "--object-px", "32"),
    # obj32 without its training crops (whole images): which of the two changes bought the AP.
    "obj32_whole_10": ("budget", "10", ["SCRATCHDET.AUG.CROP_AFTER_RESIZE", "0"], "--object-px", "32"),
    "obj24_40": ("budget", "40", [], "--object-px", "24"), "obj32_40": ("budget", "40", [], "--object-px", "32"),
    # What makes one scene's objects look like another's (the 16 px rule over-fits its scene: train
    # AP 30 against 7.5 on the test scene at 10 minutes, 60 against 6.3 at 40): stronger photometric
    # jitter, a wider scale range (a 0.6-1.4 factor of the test size, uncapped), both.
    "photo_strong_10": ("budget", "10", PHOTO_STRONG), "scale_wide_10": ("budget", "10", SCALE_WIDE),
    "aug_strong_10": ("budget", "10", [*PHOTO_STRONG, *SCALE_WIDE]),
    "aug_strong_40": ("budget", "40", [*PHOTO_STRONG, *SCALE_WIDE]),
}


def run_own_data_row(dataset: str, row: str, seed: int) -> dict:
    name = "own_data"
    if is_stored(name, dataset, row, seed):
        sys.exit(f"{name}/{dataset}/{row} seed {seed} is stored already.")
    rules, minutes, overrides, *flags = OWN_ROWS[row]
    spec = OWN_DATA[dataset]
    out = os.path.join(OUT, name, dataset, f"{row}_s{seed}")
    if os.path.isdir(out):  # a budget row is not resumable: its clock started with the first chunk
        import shutil

        shutil.rmtree(out)
    top_down = ["--top-down"] if spec.get("top_down", True) else []
    cmd = [sys.executable, "tools/train_own_data.py", "--train-json", spec["train"][0], "--images", spec["train"][1],
           "--minutes", minutes, "--output", out, *top_down, "--seed", str(seed), "--rules", rules, *flags, *FIXED_THREADS, *overrides]
    print("Running", name, dataset, row, "seed", seed, flush=True)
    t0 = time.time()
    busy0, own0 = _cpu_seconds()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    wall = time.time() - t0
    busy1, own1 = _cpu_seconds()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    neighbour = max(0.0, (busy1 - busy0) - (own1 - own0)) / wall
    if neighbour > MAX_NEIGHBOUR_SHARE:
        sys.exit(f"VOID: other processes used {neighbour:.2f} of a core while {name}/{dataset}/{row} seed {seed} ran.")
    plan = json.load(open(os.path.join(out, "plan.json")))
    best = json.load(open(os.path.join(out, "model_best.json")))
    tests = _own_tests(out, spec)
    train_eval = os.path.join(out, "train_eval", "eval_results.json")
    result = {
        "study": name, "dataset": dataset, "row": row, "seed": seed, "rules": rules, "minutes": float(minutes),
        "overrides": [*flags, *overrides],
        "wall_seconds": round(wall, 1), "neighbour_core_share": round(neighbour, 3),
        "phase1_iters": plan["schedule"]["phase1_iters"], "phase2_iters": plan["schedule"]["iters"],
        "passes": plan["schedule"]["passes"], "input": plan["input"], "s_per_iter": plan["timings"]["s_per_iter"],
        "val_box_AP": best["value"], "box_AP": tests[next(iter(tests))]["AP"], "AP50": tests[next(iter(tests))]["AP50"],
        "tests": tests,
        "train_box_AP": json.load(open(train_eval))["bbox"]["AP"] if os.path.isfile(train_eval) else None,
        "curve": [{"iter": i, "AP": a} for i, a in _own_curve(out)],
        "commit": _commit(), "date": time.strftime("%Y-%m-%d"),
    }
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}))
    return result


def _own_tests(out: str, spec: dict) -> dict:
    """model_best.pth of a row's folder on each test set: plain and with the command's test-time
    augmentation (TEST.AUG sizes from the chosen test size)."""
    import yaml

    chosen = os.path.join(out, "config_chosen.yaml")
    cfg = yaml.safe_load(open(chosen))
    coco, inp = cfg["SCRATCHDET"]["DATA"]["COCO"], cfg["INPUT"]
    tests = {}
    for tname, (j, root) in spec["tests"].items():
        reg = str([*coco, [f"own_test_{tname}", j, root]])
        ev_dir = os.path.join(out, f"test_{tname}")
        run(["--config-file", chosen, "--eval-only", "SCRATCHDET.DATA.COCO", reg,
             "DATASETS.TEST", f"('own_test_{tname}',)", "MODEL.WEIGHTS", os.path.join(out, "model_best.pth"),
             "OUTPUT_DIR", ev_dir, "TEST.AUG.ENABLED", "True", *tta_opts(inp["MIN_SIZE_TEST"], inp["MAX_SIZE_TEST"])])
        res = json.load(open(os.path.join(ev_dir, "eval_results.json")))
        tests[tname] = {"AP": res["bbox"]["AP"], "AP50": res["bbox"]["AP50"],
                        "AP_TTA": res["bbox_TTA"]["AP"], "AP50_TTA": res["bbox_TTA"]["AP50"]}
    return tests


def own_data_tta(dataset: str, row: str, seed: int) -> dict:
    """Test-time augmentation of a row stored before the harness measured it, from the row's folder
    (its model_best.pth): one line in bench/results/own_data_tta.jsonl, which the table reads."""
    if not is_stored("own_data", dataset, row, seed):
        sys.exit(f"own_data/{dataset}/{row} seed {seed} is not stored: run it (it measures TTA itself).")
    if is_stored("own_data_tta", dataset, row, seed):
        sys.exit(f"own_data_tta/{dataset}/{row} seed {seed} is stored already.")
    out = os.path.join(OUT, "own_data", dataset, f"{row}_s{seed}")
    if not os.path.isfile(os.path.join(out, "model_best.pth")):
        sys.exit(f"{out}/model_best.pth is not on this machine: the row's model is needed.")
    result = {"study": "own_data_tta", "dataset": dataset, "row": row, "seed": seed,
              "tests": _own_tests(out, OWN_DATA[dataset]), "commit": _commit(), "date": time.strftime("%Y-%m-%d")}
    with open(os.path.join(RESULTS, "own_data_tta.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps(result))
    return result


def _own_curve(out: str) -> list[tuple[int, float]]:
    folder = os.path.join(out, "phase2") if os.path.isdir(os.path.join(out, "phase2")) else out
    return [(r["iteration"] + 1, r["bbox/AP"]) for r in metrics(folder) if "bbox/AP" in r]


def _span(values: list[int]) -> str:
    """"337" or "337-340": a budget buys a different number of iterations on each run."""
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}-{max(values)}"


def own_data_table() -> str:
    rows = stored("own_data")
    # TTA measured after a row was stored (python bench/study.py tta ...), by row
    posthoc = {(x["dataset"], x["row"], x["seed"]): x["tests"] for x in stored("own_data_tta")}
    lines = ["own_data: tools/train_own_data.py (rules budget) against the earlier recipe (native) at the same "
             "wall-clock budget; test = other scenes", "",
             "| dataset | row | seeds | test box AP (mean ± sd) | other tests | with TTA | val AP | train AP | iters (phase 1) "
             "| wall s | commit |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in OWN_DATA:
        for r in OWN_ROWS:
            got = [x for x in rows if x["dataset"] == d and x["row"] == r]
            if not got:
                if not r.startswith(("cosine", "steps", "obj")):  # ablations: listed where they ran
                    lines.append(f"| {d} | {r} | 0 | not run | | | | | | | |")
                continue
            ap = [x["box_AP"] for x in got]
            sd = statistics.stdev(ap) if len(ap) > 1 else float("nan")
            others = "; ".join(f"{t} {statistics.mean(x['tests'][t]['AP'] for x in got):.1f}"
                               for t in list(got[0]["tests"])[1:])
            # test-time augmentation (rows since it was added): every test, in the order of the columns before
            tta = [{**x, "tests": posthoc.get((x["dataset"], x["row"], x["seed"]), x["tests"])} for x in got]
            tta = [x for x in tta if "AP_TTA" in x["tests"][next(iter(x["tests"]))]]
            tta_s = "; ".join(f"{statistics.mean(x['tests'][t]['AP_TTA'] for x in tta):.1f}" for t in got[0]["tests"]
                              if tta)
            if 0 < len(tta) < len(got):  # how many of the seeds have it
                tta_s += f" ({len(tta)} of {len(got)} seeds)"
            tr = [x["train_box_AP"] for x in got if x["train_box_AP"] is not None]
            tr_s = f"{statistics.mean(tr):.1f}" if tr else "n/a"
            lines.append(f"| {d} | {r} | {len(got)} | {statistics.mean(ap):.1f} ± {sd:.1f} | {others} | {tta_s} | "
                         f"{statistics.mean(x['val_box_AP'] for x in got):.1f} | {tr_s} | "
                         f"{_span([x['phase2_iters'] for x in got])} ({_span([x['phase1_iters'] for x in got])}) | "
                         f"{statistics.mean(x['wall_seconds'] for x in got):.0f} | "
                         f"{', '.join(dict.fromkeys(x['commit'] for x in got))} |")
    return "\n".join(lines)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def stored(study: str) -> list[dict]:
    path = os.path.join(RESULTS, f"{study}.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def is_stored(study: str, dataset: str, row: str, seed: int) -> bool:
    return any(r["dataset"] == dataset and r["row"] == row and r["seed"] == seed for r in stored(study))


def _phase_dir(out: str, phase: int | None) -> str:
    return out if phase is None else os.path.join(out, f"phase{phase}")


def _phase_timing(folder: str) -> tuple[int, float, list[dict]]:
    """(iterations, median s/iter, metrics rows) of one phase's folder."""
    rows = metrics(folder)
    times = sorted(r["time"] for r in rows if "time" in r)
    iters = max(r["iteration"] for r in rows if "total_loss" in r) + 1  # (the final results row has max_iter)
    return iters, times[len(times) // 2], rows


def _loss_tail(rows: list[dict], frac_from: float, frac_to: float) -> float:
    """Median total loss of the logged rows in [frac_from, frac_to) of the run."""
    losses = [r["total_loss"] for r in rows if "total_loss" in r]
    part = losses[int(len(losses) * frac_from):max(int(len(losses) * frac_to), int(len(losses) * frac_from) + 1)]
    return statistics.median(part) if part else float("nan")


def _equal_time_iters(study: str, dataset: str) -> int:
    rows = stored(study)
    method = [r["train_seconds"] for r in rows if r["dataset"] == dataset and r["row"] == "method"]
    scratch = [r["phase2_s_per_iter"] for r in rows if r["dataset"] == dataset and r["row"] == "scratch_same_iters"]
    if not method or not scratch:
        sys.exit(f"scratch_same_time of {study}/{dataset} needs stored 'method' and 'scratch_same_iters' rows first.")
    return round(statistics.mean(method) / statistics.mean(scratch))


# A row is void when other processes used more than this share of one core while it ran.
MAX_NEIGHBOUR_SHARE = 0.15


def _cpu_seconds() -> tuple[float, float]:
    """(CPU seconds all processes of the machine spent busy, CPU seconds of this process's
    finished children): their difference over a row is what others used beside it."""
    with open("/proc/stat") as f:
        fields = [float(v) for v in f.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]  # minus idle and iowait
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return busy / os.sysconf("SC_CLK_TCK"), kids.ru_utime + kids.ru_stime


def run_row(name: str, dataset: str, row: str, seed: int) -> dict:
    st = STUDIES[name]
    if is_stored(name, dataset, row, seed):
        sys.exit(f"{name}/{dataset}/{row} seed {seed} is stored already ({RESULTS}/{name}.jsonl).")
    iters = _equal_time_iters(name, dataset) if row.endswith("same_time") else st.detector_iters
    out = os.path.join(OUT, name, dataset, f"{row}_s{seed}")
    two = row in st.two_phase
    resume = os.path.isfile(os.path.join(_phase_dir(out, 1 if two else None), "last_checkpoint"))
    args = ["--config-file", st.configs.get(row, st.config), *(["--resume"] if resume else []), *COMMON, *st.datasets[dataset],
            *st.rows[row](iters), "SEED", str(seed), "OUTPUT_DIR", out]
    if two:  # phase 1 of a study trains to its stated point without validation
        args += ["SCRATCHDET.PHASE1.TEST.EVAL_PERIOD", "0", "SCRATCHDET.PHASE1.SOLVER.CHECKPOINT_PERIOD", "250"]
    # Wall-clock of every chunk of the row (a resumed row adds up its chunks).
    wall_file = os.path.join(out, "study_wall.json")
    os.makedirs(out, exist_ok=True)
    walls = json.load(open(wall_file)) if os.path.isfile(wall_file) else []
    print(("Resuming" if resume else "Running"), name, dataset, row, "seed", seed, flush=True)
    t0 = time.time()
    busy0, own0 = _cpu_seconds()
    try:
        run(args)
    finally:  # a chunk that was killed counts too
        walls.append(time.time() - t0)
        with open(wall_file, "w") as f:
            json.dump(walls, f)
    busy1, own1 = _cpu_seconds()
    neighbour = max(0.0, (busy1 - busy0) - (own1 - own0)) / walls[-1]
    if neighbour > MAX_NEIGHBOUR_SHARE:
        # Its seconds and its thread choice are not the row's: run it again, alone.
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        sys.exit(f"VOID: other processes used {neighbour:.2f} of a core while {name}/{dataset}/{row} seed {seed} "
                 "ran; nothing stored, its folder removed. Run it again with nothing else running.")
    p2_iters, p2_spi, p2_rows = _phase_timing(_phase_dir(out, 2 if two else None))
    p1_iters, p1_spi, p1_rows = _phase_timing(_phase_dir(out, 1)) if two else (0, 0.0, [])
    with open(os.path.join(out, "final_results.json")) as f:
        final = json.load(f)
    curve = [{"iter": min(r["iteration"] + 1, p2_iters), "AP": r["bbox/AP"], "AP50": r["bbox/AP50"]}
             for r in p2_rows if "bbox/AP" in r]
    result = {
        "study": name, "dataset": dataset, "row": row, "seed": seed,
        "phase1_iters": p1_iters, "phase2_iters": p2_iters,
        "phase1_s_per_iter": p1_spi, "phase2_s_per_iter": p2_spi,
        # Training seconds: each phase's median s/iter x its iterations (no start-up, no evaluation).
        "train_seconds": round(p1_iters * p1_spi + p2_iters * p2_spi, 1),
        "wall_seconds": round(sum(walls), 1), "chunks": len(walls), "neighbour_core_share": round(neighbour, 3),
        "box_AP": final["bbox"]["AP"], "AP50": final["bbox"]["AP50"], "curve": curve,
        "commit": _commit(), "date": time.strftime("%Y-%m-%d"),
    }
    if two:  # the stated point of phase 1: its loss over the last fifth against the fifth before
        result["phase1_loss_last_fifth"] = round(_loss_tail(p1_rows, 0.8, 1.0), 4)
        result["phase1_loss_fourth_fifth"] = round(_loss_tail(p1_rows, 0.6, 0.8), 4)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.jsonl"), "a") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "curve"}))
    return result


def _order(st: Study) -> list[str]:
    # time-equal rows need the others measured first
    return sorted(st.rows, key=lambda r: r.endswith("same_time"))


def missing(name: str, seeds: int = 2) -> list[tuple[str, str, int]]:
    st = STUDIES[name]
    done = {(r["dataset"], r["row"], r["seed"]) for r in stored(name)}
    return [(d, r, s) for s in range(seeds) for d in st.datasets for r in _order(st) if (d, r, s) not in done]


def table(name: str) -> str:
    rows = stored(name)
    st = STUDIES[name]
    lines = [f"{name}: {st.note}", "",
             "| dataset | row | seeds | box AP (mean ± sd) | AP50 | detector iters | phase-1 iters | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for d in st.datasets:
        for r in _order(st):
            got = [x for x in rows if x["dataset"] == d and x["row"] == r]
            if not got:
                lines.append(f"| {d} | {r} | 0 | not run | | | | |")
                continue
            ap = [x["box_AP"] for x in got]
            sd = statistics.stdev(ap) if len(ap) > 1 else float("nan")
            lines.append(f"| {d} | {r} | {len(got)} | {statistics.mean(ap):.1f} ± {sd:.1f} | "
                         f"{statistics.mean(x['AP50'] for x in got):.1f} | {got[0]['phase2_iters']} | "
                         f"{got[0]['phase1_iters']} | {statistics.mean(x['train_seconds'] for x in got):.0f} |")
    return "\n".join(lines)


def curve_png(name: str, path: str) -> str:
    """Validation box AP against detector iterations and against training time, one line per
    (dataset, row), mean over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = stored(name)
    st = STUDIES[name]
    fig, axes = plt.subplots(len(st.datasets), 2, figsize=(11, 4 * len(st.datasets)), squeeze=False)
    for i, d in enumerate(st.datasets):
        for r in _order(st):
            got = [x for x in rows if x["dataset"] == d and x["row"] == r]
            if not got:
                continue
            its = sorted({p["iter"] for x in got for p in x["curve"]})
            mean = [statistics.mean(p["AP"] for x in got for p in x["curve"] if p["iter"] == it) for it in its]
            p1_s = statistics.mean(x["phase1_iters"] * x["phase1_s_per_iter"] for x in got)
            spi = statistics.mean(x["phase2_s_per_iter"] for x in got)
            label = f"{r} ({len(got)} seeds)"
            axes[i][0].plot(its, mean, marker="o", label=label)
            axes[i][1].plot([(p1_s + it * spi) / 60 for it in its], mean, marker="o", label=label)
        axes[i][0].set(title=f"{name} / {d}", xlabel="detector iterations", ylabel="val box AP")
        axes[i][1].set(title=f"{name} / {d}", xlabel="training minutes (phase 1 included)", ylabel="val box AP")
        for ax in axes[i]:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    r = sub.add_parser("run")
    r.add_argument("study", choices=sorted([*STUDIES, "own_data"]))
    r.add_argument("dataset")
    r.add_argument("row")
    r.add_argument("--seed", type=int, default=0)
    t = sub.add_parser("tta", help="own_data: test-time augmentation of a stored row, from its folder")
    t.add_argument("dataset", choices=list(OWN_DATA))
    t.add_argument("row", choices=list(OWN_ROWS))
    t.add_argument("--seed", type=int, default=0)
    for cmd in ("next", "table"):
        p = sub.add_parser(cmd)
        p.add_argument("study", choices=sorted([*STUDIES, "own_data"]))
        p.add_argument("--seeds", type=int, default=2)
    a = ap.parse_args()
    if a.cmd == "list":
        for name, st in STUDIES.items():
            todo = missing(name)
            print(f"{name}: datasets {list(st.datasets)}, rows {_order(st)}; {len(stored(name))} stored, "
                  f"{len(todo)} missing for 2 seeds")
    elif a.cmd == "run" and a.study == "own_data":
        if a.dataset not in OWN_DATA or a.row not in OWN_ROWS:
            sys.exit(f"own_data: datasets {list(OWN_DATA)}, rows {list(OWN_ROWS)}.")
        run_own_data_row(a.dataset, a.row, a.seed)
    elif a.cmd == "tta":
        own_data_tta(a.dataset, a.row, a.seed)
    elif a.cmd == "table" and a.study == "own_data":
        print(own_data_table())
    elif a.cmd == "run":
        st = STUDIES[a.study]
        if a.dataset not in st.datasets or a.row not in st.rows:
            sys.exit(f"{a.study}: datasets {list(st.datasets)}, rows {list(st.rows)}.")
        run_row(a.study, a.dataset, a.row, a.seed)
    elif a.cmd == "next":
        todo = missing(a.study, a.seeds)
        print("nothing missing" if not todo else
              f"{sys.executable} bench/study.py run {a.study} {todo[0][0]} {todo[0][1]} --seed {todo[0][2]}")
    else:
        print(table(a.study))
        print("\n" + curve_png(a.study, os.path.join(REPO, "docs", "figures", f"study_{a.study}.png")))


if __name__ == "__main__":
    main()
