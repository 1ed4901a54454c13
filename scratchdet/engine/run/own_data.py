"""A user's own COCO-json dataset and a time budget: register and check the data, report it,
measure this machine with a short probe, choose the recipe for the budget
(:mod:`scratchdet.config.budget_recipe`), write it as a full config, and after training (by
``tools/train_own_data.py`` through train_net's path) evaluate the best model on the training
images too and summarise what happened. The budget counts from the command's start."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.engine import HookBase

from ...config import load_config_file
from ...config.budget_recipe import (
    IMS_PER_BATCH,
    MAX_MEDIAN_OBJECT_PX,
    MIN_PASSES_AT_TARGET,
    PHASE1_SCALE,
    InputChoice,
    Schedule,
    Timings,
    choose_input,
    choose_schedule,
    native_input,
    schedule_opts,
    time_budget_opts,
    tta_opts,
)
from ...config.errors import ConfigError
from ...data import build_mapper
from ...data.dataset_dicts import load_checked_dataset, registered_dataset_dicts
from ...data.datasets.statistics import dataset_statistics, suggested_config
from ...io.atomic import atomic_open, atomic_write_json
from ..hooks.metrics_log import read_metrics
from ..setup.checks import check_run_config
from ..setup.plan import plan_phase, register_run_datasets
from ..train.trainer import Trainer
from .phases import phase1_config

logger = logging.getLogger(__name__)

TRAIN, VAL, ALL = "own_train", "own_val", "own_all"
CHOSEN = "config_chosen.yaml"
PLAN = "plan.json"
PROBE_ITERS = 10
PROBE_WARMUP = 3  # steps of the probe not timed (see probe_step_seconds)
PROBE_EVAL_IMAGES = 6


@dataclass
class Request:
    train_json: str
    images: str
    output: str
    minutes: float
    base_config: str
    val_json: str = ""
    val_images: str = ""
    val_fraction: float = 0.2
    seed: int = 0
    top_down: bool = False          # no "up" in the images (aerial, microscopy): v-flips, 90° rotations
    rules: str = "budget"           # "native": the earlier recipe (whole images, step LR, no EMA), to compare
    opts: list[str] = field(default_factory=list)
    object_px: float = MAX_MEDIAN_OBJECT_PX  # images are scaled down until the median object is at most this


def check_request(r: Request) -> None:
    """One clear message for what can be seen before anything loads."""
    if not (r.minutes > 0 and math.isfinite(r.minutes)):
        raise ConfigError(f"--minutes {r.minutes}: the budget must be a positive number of minutes.")
    for flag, path, kind in (("--train-json", r.train_json, "file"), ("--images", r.images, "dir"),
                             ("--val-json", r.val_json, "file"), ("--val-images", r.val_images, "dir")):
        if path and not (os.path.isfile(path) if kind == "file" else os.path.isdir(path)):
            raise ConfigError(f"{flag} {path}: no such {'file' if kind == 'file' else 'folder'}.")
    if bool(r.val_json) != bool(r.val_images):
        raise ConfigError("--val-json and --val-images go together (or use --val-fraction to hold out part of the training json).")
    if not r.val_json and not 0 < r.val_fraction < 1:
        raise ConfigError(f"--val-fraction {r.val_fraction}: give a fraction between 0 and 1 (e.g. 0.2).")
    if r.rules not in ("budget", "native"):
        raise ConfigError(f"--rules {r.rules}: use 'budget' (the default) or 'native'.")
    if not (r.object_px >= 8 and math.isfinite(r.object_px)):
        raise ConfigError(f"--object-px {r.object_px}: give the largest median object side in pixels to train at, "
                          f"8 or more (default {MAX_MEDIAN_OBJECT_PX:.0f}).")
    if os.path.isfile(r.output):
        raise ConfigError(f"--output {r.output} is a file: give a folder.")
    if any(os.path.exists(os.path.join(r.output, f)) for f in (PLAN, "metrics.json", "last_checkpoint", "phase1")):
        raise ConfigError(f"--output {r.output} holds a run already: continue it with --resume, or give a new --output.")


def registration_opts(r: Request) -> list[str]:
    """SCRATCHDET.DATA keys that register the user's data as own_train / own_val."""
    # repr(): paths with quotes or backslashes stay what they are in the config's Python literal
    if r.val_json:
        coco = str([[TRAIN, r.train_json, r.images], [VAL, r.val_json, r.val_images]])
        return ["SCRATCHDET.DATA.COCO", coco, "DATASETS.TRAIN", f"('{TRAIN}',)", "DATASETS.TEST", f"('{VAL}',)"]
    return ["SCRATCHDET.DATA.COCO", str([[ALL, r.train_json, r.images]]),
            "SCRATCHDET.DATA.SPLIT", str([[ALL, TRAIN, VAL, r.val_fraction, r.seed]]),
            "DATASETS.TRAIN", f"('{TRAIN}',)", "DATASETS.TEST", f"('{VAL}',)"]


def _has_masks(dicts: list[dict]) -> bool:
    anns = [a for d in dicts for a in d.get("annotations", [])]
    return bool(anns) and all(a.get("segmentation") for a in anns)


def _data_opts(r: Request, stats: dict, inp: InputChoice, cfg: CfgNode, masks: bool) -> tuple[list[str], list[int]]:
    """Opts from the data (classes, masks, anchors and detection caps at the test size, flips) and
    the training scales."""
    sizes = suggested_config(stats, cfg)
    scales = sorted({round(inp.test_size * f) for f in (0.88, 1.0, 1.12)})  # mild multi-scale (±12%)
    opts = ["MODEL.MASK_ON", str(masks), "MODEL.ROI_HEADS.NUM_CLASSES", str(len(stats["classes"])),
            "MODEL.ANCHOR_GENERATOR.SIZES", str(sizes["MODEL.ANCHOR_GENERATOR.SIZES"]),
            "TEST.DETECTIONS_PER_IMAGE", str(sizes["TEST.DETECTIONS_PER_IMAGE"]),
            "MODEL.RPN.POST_NMS_TOPK_TEST", str(sizes["MODEL.RPN.POST_NMS_TOPK_TEST"]),
            "MODEL.RPN.PRE_NMS_TOPK_TEST", str(sizes["MODEL.RPN.PRE_NMS_TOPK_TEST"])]
    if r.top_down:
        opts += ["SCRATCHDET.AUG.VFLIP", "True", "SCRATCHDET.AUG.ROT90", "True"]
    return opts, scales


def _configure(r: Request, extra: list[str]) -> CfgNode:
    return load_config_file(r.base_config, [*registration_opts(r), *extra, *r.opts, "OUTPUT_DIR", r.output])


def _probe_training(cfg: CfgNode, folder: str) -> tuple[float, float, torch.nn.Module]:
    """(median s/iter, start-up seconds, the model) of PROBE_ITERS training steps of ``cfg`` in
    this process."""
    c = cfg.clone()
    c.defrost()
    c.merge_from_list(["SOLVER.MAX_ITER", str(PROBE_ITERS), "SOLVER.WARMUP_ITERS", "1", "TEST.EVAL_PERIOD", "0",
                       "SOLVER.CHECKPOINT_PERIOD", "1000000", "SCRATCHDET.VIS.NUM_IMAGES", "0",
                       "SCRATCHDET.VIS.LOSS_CURVE_PERIOD", "1000000", "OUTPUT_DIR", folder,
                       "SCRATCHDET.PHASE1.ENABLED", "False", "SOLVER.LR_SCHEDULER_NAME", "WarmupMultiStepLR",
                       "DATASETS.TEST", "()"])  # validation is timed on its own (_probe_eval)
    t0 = time.time()
    planned = plan_phase(c, check=False)  # checked by the caller
    trainer = Trainer(planned.cfg, planned.train_dicts)
    trainer.resume_or_load(resume=False)
    clock = _StepClock()
    trainer.register_hooks([clock])  # last: its times include every other hook's work (EMA, logging)
    trainer.train()
    total = time.time() - t0
    spi = probe_step_seconds(clock.stamps) or total / PROBE_ITERS
    model = trainer.model
    del trainer
    return spi, max(0.0, total - PROBE_ITERS * spi), model


def probe_step_seconds(stamps: list[float], warmup: int = PROBE_WARMUP) -> float | None:
    """Seconds per training step from the probe's step end times: the median interval after the
    first ``warmup`` steps. Early steps are slow for reasons a long run does not pay per step (the
    loader's workers starting, oneDNN building kernels for each new input shape, the allocator
    growing): their mean overestimated the step by 5-25% on the own-data rows, which then ended
    at 78-90% of their budget."""
    intervals = [b - a for a, b in zip(stamps[warmup:], stamps[warmup + 1:])]
    return statistics.median(intervals) if intervals else None


class _StepClock(HookBase):
    def __init__(self):
        self.stamps: list[float] = []

    def after_step(self) -> None:
        self.stamps.append(time.perf_counter())


@torch.no_grad()
def _probe_eval(cfg: CfgNode, model: torch.nn.Module, val_dicts: list[dict]) -> float:
    """Seconds per validation image: the test mapper and the model in eval mode (the COCO
    evaluation on top is small beside it; 20% is added for it and the loader)."""
    mapper = build_mapper(cfg, is_train=False)
    model.eval()
    n = min(PROBE_EVAL_IMAGES, len(val_dicts))
    model([mapper(dict(val_dicts[0]))])  # warm-up, not timed
    t0 = time.perf_counter()
    for d in val_dicts[:n]:
        model([mapper(dict(d))])
    return 1.2 * (time.perf_counter() - t0) / max(n, 1)


# Seconds each evaluation costs beyond its images (loader and evaluator set-up, COCO evaluation),
# and what the end of a run takes (final checkpoint, predictions PNG, summary): measured here on
# the tests' tiny runs (2-3 s with the best checkpoint saved, and 5-10 s).
EVAL_FIXED_S = 2.5
END_S = 8.0


def plan(r: Request, t_start: float) -> dict:
    """Everything before training: returns the plan (also OUTPUT/plan.json) and writes
    OUTPUT/config_chosen.yaml, which train_net.py can run as it is."""
    check_request(r)
    os.makedirs(r.output, exist_ok=True)
    # A second request in the same process (the Python API, tests) brings its own files: the names
    # are registered anew, not reused from the first.
    for name in (TRAIN, VAL, ALL):
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
    register_run_datasets(_configure(r, []))
    raw = registered_dataset_dicts((TRAIN,))  # loads the json: its classes are known after
    classes = MetadataCatalog.get(TRAIN).get("thing_classes") or []
    # Classes and masks from the data before the checks, which compare them with the model.
    cfg0 = _configure(r, ["MODEL.ROI_HEADS.NUM_CLASSES", str(max(1, len(classes))), "MODEL.MASK_ON", str(_has_masks(raw))])
    train_dicts = load_checked_dataset(cfg0, (TRAIN,), is_train=True, filter_empty=False)
    val_dicts = load_checked_dataset(cfg0, (VAL,), is_train=False)
    if not val_dicts:
        raise ConfigError("the validation set has no images: give --val-json/--val-images or a larger --val-fraction.")
    stats = dataset_statistics(train_dicts, classes, None)
    native = r.rules == "native"
    inp = (native_input(stats["image_short_side"]["median"], stats["max_aspect_ratio"]) if native else
           choose_input(stats["image_short_side"]["median"], stats["max_aspect_ratio"],
                        stats["box_size_px"][50], stats["box_size_px"][95], max_median_object_px=r.object_px))
    masks = _has_masks(train_dicts)
    # Anchors and caps from the boxes as the model sees them: each image resized to the test size.
    data_opts, scales = _data_opts(r, dataset_statistics(train_dicts, classes, inp.test_size), inp, cfg0, masks)
    logger.info(f"Own data: {len(train_dicts)} training / {len(val_dicts)} validation images, classes {classes}, "
                f"masks {masks}; {inp.reason}")

    # The probe: training steps at the chosen size and crop, and inference at the test size.
    probe_dir = os.path.join(r.output, "probe")
    base_sched = Schedule(0, PROBE_ITERS, 1, PROBE_ITERS, 1, 0, 0, 0, "probe")
    probe_cfg = _configure(r, [*data_opts, *schedule_opts(base_sched, inp, native=native),
                               "INPUT.MIN_SIZE_TRAIN", str(tuple(scales))])
    # The user's KEY VALUE overrides are checked before anything trains (one line, exit 2).
    check_run_config(probe_cfg, world_size=1, training=True)
    spi, start_s, model = _probe_training(probe_cfg, probe_dir)
    eval_s = _probe_eval(probe_cfg, model, val_dicts)
    del model
    timings = Timings(spi, 0.0, eval_s, start_s + END_S, EVAL_FIXED_S)
    train_eval = len(train_dicts) if len(train_dicts) * eval_s < 0.05 * r.minutes * 60 else 0
    budget = r.minutes * 60
    def schedule(allow_phase1: bool) -> Schedule:
        try:
            return choose_schedule(budget, time.time() - t_start, timings, len(train_dicts), len(val_dicts), train_eval,
                                   allow_phase1=allow_phase1)
        except ValueError as e:
            raise ConfigError(f"--minutes {r.minutes}: {e}.") from e

    sched = schedule(False)
    if sched.passes < MIN_PASSES_AT_TARGET and not native:  # rule (3) may choose a phase 1: measure its step too
        p1_sched = Schedule(PROBE_ITERS, PROBE_ITERS, 1, PROBE_ITERS, 1, 0, 0, 0, "")
        p1_probe = phase1_config(_configure(r, [*data_opts, *schedule_opts(p1_sched, inp)]))
        check_run_config(p1_probe, world_size=1, training=True)
        timings.s_per_iter_phase1, _, _ = _probe_training(p1_probe, os.path.join(probe_dir, "phase1"))
        sched = schedule(True)
    shutil.rmtree(probe_dir, ignore_errors=True)
    opts = [*data_opts, *schedule_opts(sched, inp, native=native), *time_budget_opts(sched, timings, len(val_dicts)),
            "INPUT.MIN_SIZE_TRAIN", str(tuple(scales)), "SEED", str(r.seed)]
    cfg = _configure(r, opts)
    with atomic_open(os.path.join(r.output, CHOSEN), "w") as f:
        f.write(f"# Chosen by tools/train_own_data.py for a budget of {r.minutes} minutes on this machine.\n"
                f"# Rerun it with: python train_net.py --config-file {os.path.join(r.output, CHOSEN)}\n")
        f.write(cfg.dump())
    result = {"request": asdict(r), "input": asdict(inp), "timings": asdict(timings), "schedule": sched.as_dict(),
              "masks": masks, "train_images": len(train_dicts), "val_images": len(val_dicts), "classes": classes,
              "train_eval_images": train_eval, "planned_at_s": round(time.time() - t_start, 1),
              "phase1_scale": PHASE1_SCALE if sched.phase1_iters else None, "ims_per_batch": IMS_PER_BATCH,
              "box_size_px": stats["box_size_px"]}
    atomic_write_json(result, os.path.join(r.output, PLAN))
    return result


def _val_curve(output: str, two_phase: bool) -> list[tuple[int, float]]:
    folder = os.path.join(output, "phase2") if two_phase else output
    path = os.path.join(folder, "metrics.json")
    if not os.path.isfile(path):
        return []
    rows = read_metrics(path)  # (a line cut by a kill is skipped)
    return [(row["iteration"] + 1, row["bbox/AP"]) for row in rows if "bbox/AP" in row]


def reading(train_ap: float | None, val_ap: float, curve: list[tuple[int, float]]) -> str:
    """docs/own_dataset.md §6 as a sentence."""
    rising = len(curve) >= 2 and curve[-1][1] >= max(a for _, a in curve) and curve[-1][1] > 1.1 * curve[-2][1] + 0.5
    more = " Validation AP was still rising at the end: more --minutes would help." if rising else ""
    if train_ap is None:
        return "Train AP not measured (evaluating the training images would not fit the budget)." + more
    if train_ap < 40:
        return (f"Under-fitting: the model reaches only {train_ap:.1f} AP on its own training images. Give more "
                "--minutes (or a GPU), or a smaller --object-px (smaller images: cheaper steps); check the anchors "
                "and input size in plan.json." + more)
    if val_ap < 0.6 * train_ap:
        return (f"Over-fitting: {train_ap:.1f} AP on the training images against {val_ap:.1f} on validation. "
                "The best checkpoint stops early already; annotate more scenes, or add exact-invariance "
                "augmentation (--top-down for images without an up)." + more)
    return f"Train ({train_ap:.1f}) and validation ({val_ap:.1f}) AP are close: the model generalises to the held-out images." + more


def draw_curve(curve: list[tuple[int, float]], train_ap: float | None, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    if curve:
        ax.plot([i for i, _ in curve], [a for _, a in curve], marker="o", label="validation box AP")
    if train_ap is not None and curve:
        ax.axhline(train_ap, color="C1", ls="--", label=f"training images, best model ({train_ap:.1f})")
    ax.set(xlabel="iteration (detector)", ylabel="box AP", title="tools/train_own_data.py")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _trained_iters(folder: str) -> int | None:
    path = os.path.join(folder, "metrics.json")
    rows = read_metrics(path) if os.path.isfile(path) else []
    its = [r["iteration"] for r in rows if "iteration" in r]
    return max(its) + 1 if its else None


def _moved(output: str, s: dict) -> str:
    """What the time budget (SCRATCHDET.TIME_BUDGET) made of the planned iterations."""
    parts = []
    for name, planned, folder in (("phase 1", s["phase1_iters"], os.path.join(output, "phase1")),
                                  ("", s["iters"], os.path.join(output, "phase2") if s["phase1_iters"] else output)):
        trained = _trained_iters(folder) if planned else None
        if trained is not None and trained != planned:
            parts.append(f"{name + ' ' if name else ''}{trained} trained")
    return f"; time budget: {', '.join(parts)}" if parts else ""


def summarise(output: str, t_start: float, train_ap: float | None) -> str:
    """The one-screen summary (also OUTPUT/summary.txt) and OUTPUT/val_ap_curve.png."""
    with open(os.path.join(output, PLAN)) as f:
        p = json.load(f)
    curve = _val_curve(output, bool(p["schedule"]["phase1_iters"]))
    best = json.load(open(os.path.join(output, "model_best.json"))) if os.path.isfile(os.path.join(output, "model_best.json")) else None
    val_ap = best["value"] if best else (curve[-1][1] if curve else float("nan"))
    s, inp, t = p["schedule"], p["input"], p["timings"]
    elapsed = time.time() - t_start
    draw_curve(curve, train_ap, os.path.join(output, "val_ap_curve.png"))
    lines = [
        f"train_own_data: {p['train_images']} training / {p['val_images']} validation images, "
        f"{len(p['classes'])} classes, masks {p['masks']}",
        f"  input: test {inp['test_size']} px (scale {inp['scale']}), "
        + (f"training crops {inp['crop']} px" if inp["crop"] else "whole images") + f" — {inp['reason']}",
        f"  machine: {t['s_per_iter']:.2f} s/iter at batch {p['ims_per_batch']}"
        + (f", phase 1 {t['s_per_iter_phase1']:.2f} s/iter" if s["phase1_iters"] else "")
        + f", {t['eval_s_per_image']:.2f} s per validation image",
        "  schedule: " + (f"phase 1 {s['phase1_iters']} it at {p['phase1_scale']}x, then " if s["phase1_iters"] else "")
        + f"{s['iters']} it ({s['passes']} passes{_moved(output, s)}), "
        + ("LR steps at 75/90%, no EMA" if p["request"].get("rules") == "native" else "LR steps at 75/90%, EMA")
        + f", {s['evals']} validations every {s['eval_period']} it — {s['reason']}",
        "  validation box AP: " + ", ".join(f"{a:.1f}@{i}" for i, a in curve),
        f"  best: {val_ap:.1f} box AP" + (f" at iteration {best['iteration'] + 1}" if best else "")
        + (f"; on its training images {train_ap:.1f}" if train_ap is not None else ""),
        f"  reading: {reading(train_ap, val_ap, curve)}",
        f"  another scene: --eval-only with {CHOSEN}, MODEL.WEIGHTS model_best.pth and TEST.AUG.ENABLED True "
        f"(test-time augmentation at {tta_opts(inp['test_size'], inp['max_size'])[1]} px, flipped; "
        "docs/own_dataset.md §4)",
        f"  wall-clock {elapsed / 60:.1f} of {p['request']['minutes']} minutes; outputs in {output}: model_best.pth, "
        f"{CHOSEN}, val_ap_curve.png, summary.txt",
    ]
    text = "\n".join(lines)
    with atomic_open(os.path.join(output, "summary.txt"), "w") as f:
        f.write(text + "\n")
    return text
