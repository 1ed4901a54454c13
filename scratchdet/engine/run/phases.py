"""Two-phase training in one command: phase 1 (pre-training) then phase 2 (fine-tuning).

This module makes the phases' configs and merges their outputs; :mod:`.runner` runs them (a
single-phase job is a one-phase run of the same runner). Each phase is a normal
:class:`Trainer` run with its own config, data loader, optimizer, LR schedule and checkpoints
(OUTPUT_DIR/phase1, OUTPUT_DIR/phase2). Phase 2 loads phase 1's final weights by MODEL.WEIGHTS,
through the same checkpointer as any MODEL.WEIGHTS (copied / converted / re-initialised, report
in handover.json, BN statistics re-estimated on phase-2 data; see SCRATCHDET.HANDOVER).
Self-training's students are phases 3, 4, ... (one per round after the first, whose student is
phase 2). ``--resume`` continues where the command stopped: inside phase 1, at the boundary, or
inside a later phase. OUTPUT_DIR/metrics.json holds every phase's lines, each with its "phase";
loss_curve.png shows them all.
"""

from __future__ import annotations

import json
import logging
import os
import shutil

from detectron2.config import CfgNode
from detectron2.utils import comm

from ...config.errors import ConfigError
from ...config.norm_policy import apply_norm_policy
from ...io.atomic import atomic_open
from ..hooks.metrics_log import plot_loss_curves, read_metrics

logger = logging.getLogger(__name__)
PHASE_NAMES = {1: "pretrain", 2: "finetune"}


def phase_name(phase: int) -> str:
    # Phases after 2 are the later students of self-training (round = phase - 1).
    return PHASE_NAMES.get(phase, f"student round {phase - 1}")


def phase1_config(cfg: CfgNode) -> CfgNode:
    """The config of phase 1: the whole config with the SCRATCHDET.PHASE1 block applied on top."""
    p1 = cfg.clone()
    p1.defrost()
    overrides = cfg.SCRATCHDET.PHASE1.clone()
    overrides.defrost()
    overrides.pop("ENABLED", None)
    # Phase-2-only settings do not carry over to phase 1 (unless the block sets them again).
    p1.SCRATCHDET.HANDOVER.KEY_MAP = []
    p1.SCRATCHDET.FREEZE = ""
    p1.SCRATCHDET.TIME_BUDGET.SECONDS = 0
    try:
        p1.merge_from_other_cfg(overrides)
    except (KeyError, AssertionError, ValueError) as e:
        raise ConfigError(f"SCRATCHDET.PHASE1: {e}. The block takes the keys of the whole config "
                          "(e.g. PHASE1.SOLVER.MAX_ITER, PHASE1.INPUT.MIN_SIZE_TRAIN).") from None
    _single_phase(p1, os.path.join(cfg.OUTPUT_DIR, "phase1"))
    # The block may change SCRATCHDET.NORM.ALL: phase 1's own derived values are resolved here.
    p1 = apply_norm_policy(p1)
    p1.freeze()
    return p1


def phase2_config(cfg: CfgNode, source: str, phase: int = 2) -> CfgNode:
    """The config of phase 2 (or of a later student round of self-training, ``phase`` > 2): the
    config itself, loading ``source`` by MODEL.WEIGHTS (the one weight-loading path: key map,
    conversions, report, BN re-estimation)."""
    p2 = cfg.clone()
    p2.defrost()
    _single_phase(p2, os.path.join(cfg.OUTPUT_DIR, f"phase{phase}"))
    p2.MODEL.WEIGHTS = source
    p2.freeze()
    return p2


def _single_phase(cfg: CfgNode, output_dir: str) -> None:
    cfg.SCRATCHDET.PHASE1 = CfgNode(new_allowed=True)
    cfg.SCRATCHDET.PHASE1.ENABLED = False
    cfg.SCRATCHDET.RUN_PHASES = "all"
    # A phase is one training: self-training's rounds are the runner's business, not the phase's.
    cfg.SCRATCHDET.SELF_TRAINING.ENABLED = False
    cfg.OUTPUT_DIR = output_dir


def config_for_eval(cfg: CfgNode) -> CfgNode:
    """The config --eval-only uses: phase 1's when SCRATCHDET.RUN_PHASES is "pretrain", else the config."""
    if cfg.SCRATCHDET.PHASE1.ENABLED and cfg.SCRATCHDET.RUN_PHASES == "pretrain":
        p1 = phase1_config(cfg)
        p1.defrost()
        p1.OUTPUT_DIR = cfg.OUTPUT_DIR  # results of an evaluation go where the user asked
        p1.freeze()
        return p1
    return cfg


def merge_phase_outputs(cfg: CfgNode, p1: CfgNode) -> None:
    """OUTPUT_DIR/metrics.json with both phases (field "phase"; phase 2's iterations continue
    after phase 1's, its own count in "phase_iteration"), loss_curve.png, and phase 2's
    model_final.pth / predictions.png / final_results.json copied to OUTPUT_DIR."""
    if not comm.is_main_process():
        return
    out = cfg.OUTPUT_DIR
    lines = []
    last = 1 + (cfg.SCRATCHDET.SELF_TRAINING.ROUNDS if cfg.SCRATCHDET.SELF_TRAINING.ENABLED else 1)
    offset = 0
    for phase in range(1, last + 1):
        path = os.path.join(out, f"phase{phase}", "metrics.json")
        if os.path.isfile(path):
            for row in read_metrics(path):
                row["phase"] = phase_name(phase)
                if "iteration" in row:
                    row["phase_iteration"] = row["iteration"]
                    row["iteration"] += offset
                lines.append(json.dumps(row))
        offset += p1.SOLVER.MAX_ITER if phase == 1 else cfg.SOLVER.MAX_ITER
    with atomic_open(os.path.join(out, "metrics.json"), "w") as f:
        f.write("\n".join(lines) + "\n")
    plot_loss_curves(os.path.join(out, "metrics.json"), os.path.join(out, "loss_curve.png"))
    # model_best.* too: the last phase's best model is the run's (validation during training)
    for name in ("model_final.pth", "predictions.png", "model_best.pth", "model_best.json"):
        src = os.path.join(out, f"phase{last}", name)
        if os.path.isfile(src):
            with open(src, "rb") as fin, atomic_open(os.path.join(out, name), "wb") as fout:
                shutil.copyfileobj(fin, fout)
