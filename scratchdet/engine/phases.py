"""Two-phase training in one command: phase 1 (pre-training) then phase 2 (fine-tuning).

Each phase is a normal :class:`Trainer` run with its own config, data loader, optimizer, LR
schedule and checkpoints (OUTPUT_DIR/phase1, OUTPUT_DIR/phase2). When phase 1 ends, its final
weights are handed to phase 2's model as it is built (copied / converted / re-initialised, BN
statistics re-estimated on phase-2 data, parts frozen: see SCRATCHDET.HANDOVER). ``--resume``
continues where the command stopped: inside phase 1, at the boundary, or inside phase 2.
OUTPUT_DIR/metrics.json holds both phases' lines, each with its "phase"; loss_curve.png shows both.
"""

from __future__ import annotations

import json
import logging
import os
import shutil

from detectron2.config import CfgNode
from detectron2.utils import comm

from ..config.checks import ConfigError, check_config
from ..evaluation.results_file import save_results
from ..io.atomic import atomic_open
from ..modeling.norm_policy import apply_norm_policy
from .hooks.loss_curve import plot_loss_curves, read_metrics
from .resume_check import config_file_to_write

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
    p1.SCRATCHDET.HANDOVER.SOURCE = ""
    p1.SCRATCHDET.HANDOVER.FREEZE = ""
    try:
        p1.merge_from_other_cfg(overrides)
    except (KeyError, AssertionError, ValueError) as e:
        raise ConfigError(f"SCRATCHDET.PHASE1: {e}. The block takes the keys of the whole config "
                          "(e.g. PHASE1.SOLVER.MAX_ITER, PHASE1.INPUT.MIN_SIZE_TRAIN).") from None
    _single_phase(p1, os.path.join(cfg.OUTPUT_DIR, "phase1"))
    return _finish(p1)


def phase2_config(cfg: CfgNode, source: str, phase: int = 2) -> CfgNode:
    """The config of phase 2 (or of a later student round, ``phase`` > 2): the config itself,
    its weights handed over from ``source``."""
    p2 = cfg.clone()
    p2.defrost()
    _single_phase(p2, os.path.join(cfg.OUTPUT_DIR, f"phase{phase}"))
    p2.SCRATCHDET.HANDOVER.SOURCE = source
    p2.MODEL.WEIGHTS = ""  # the hand-over loads the weights, with its conversion rules
    return _finish(p2)


def _single_phase(cfg: CfgNode, output_dir: str) -> None:
    cfg.SCRATCHDET.PHASE1 = CfgNode(new_allowed=True)
    cfg.SCRATCHDET.PHASE1.ENABLED = False
    cfg.SCRATCHDET.RUN_PHASES = "all"
    # A phase is one training: self-training's rounds are the runner's business, not the phase's.
    cfg.SCRATCHDET.SELF_TRAINING.ENABLED = False
    cfg.OUTPUT_DIR = output_dir


def _finish(cfg: CfgNode) -> CfgNode:
    cfg = apply_norm_policy(cfg)
    cfg.freeze()
    return cfg


def config_for_eval(cfg: CfgNode) -> CfgNode:
    """The config --eval-only uses: phase 1's when SCRATCHDET.RUN_PHASES is "pretrain", else the config."""
    if cfg.SCRATCHDET.PHASE1.ENABLED and cfg.SCRATCHDET.RUN_PHASES == "pretrain":
        p1 = phase1_config(cfg)
        p1.defrost()
        p1.OUTPUT_DIR = cfg.OUTPUT_DIR  # results of an evaluation go where the user asked
        p1.freeze()
        return p1
    return cfg


def _train_phase(cfg: CfgNode, phase: int, resume: bool):
    from .trainer import Trainer  # the runner drives the trainer, not the other way round

    logger.info(f"===== Phase {phase} ({phase_name(phase)}): output in {cfg.OUTPUT_DIR} =====")
    if comm.is_main_process():
        os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
        # On --resume the record of the config the phase started with is kept (resume_check).
        with atomic_open(config_file_to_write(cfg.OUTPUT_DIR, resume), "w") as f:
            f.write(cfg.dump())
    comm.synchronize()
    check_config(cfg, world_size=comm.get_world_size(), training=True)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=resume)
    trainer.train()
    comm.synchronize()
    results = getattr(trainer, "_last_eval_results", None)
    save_results(cfg.OUTPUT_DIR, results, "final_results.json")
    return results


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
    for name in ("model_final.pth", "predictions.png"):
        src = os.path.join(out, f"phase{last}", name)
        if os.path.isfile(src):
            with open(src, "rb") as fin, atomic_open(os.path.join(out, name), "wb") as fout:
                shutil.copyfileobj(fin, fout)


def run_phases(cfg: CfgNode, resume: bool):
    """Run the phases of SCRATCHDET.RUN_PHASES; returns the last phase's evaluation results."""
    run = cfg.SCRATCHDET.RUN_PHASES
    if run not in ("all", "pretrain", "finetune"):
        raise ConfigError(f"SCRATCHDET.RUN_PHASES={run!r}: use 'all', 'pretrain' or 'finetune'.")
    p1 = phase1_config(cfg)
    p1_final = os.path.join(p1.OUTPUT_DIR, "model_final.pth")
    results = None
    if run in ("all", "pretrain"):
        if resume and os.path.isfile(p1_final):
            logger.info(f"Phase 1 already finished ({p1_final}): continuing with phase 2.")
        else:
            results = _train_phase(p1, 1, resume)
        if run == "pretrain":
            merge_phase_outputs(cfg, p1)
            return results
    source = p1_final if run == "all" else (cfg.MODEL.WEIGHTS or p1_final)
    if cfg.SCRATCHDET.SELF_TRAINING.ENABLED:
        results = _student_rounds(cfg, p1, source, resume)
        merge_phase_outputs(cfg, p1)
        return results
    p2_dir = os.path.join(cfg.OUTPUT_DIR, "phase2")
    resume_p2 = resume and os.path.isfile(os.path.join(p2_dir, "last_checkpoint"))
    # Resuming phase 2 loads its own last checkpoint: no second hand-over.
    p2 = phase2_config(cfg, "" if resume_p2 else source)
    results = _train_phase(p2, 2, resume_p2)
    merge_phase_outputs(cfg, p1)
    return results


def _student_rounds(cfg: CfgNode, p1: CfgNode, teacher: str, resume: bool):
    """Self-training: per round, the teacher pseudo-labels SELF_TRAINING.UNLABELLED, then a
    student (phase round+1) trains on DATASETS.TRAIN + the pseudo-labels; it teaches the next round."""
    from .self_training import pseudo_label_round, student_config

    st = cfg.SCRATCHDET.SELF_TRAINING
    # The first teacher has phase 1's architecture when it comes from phase 1, else the config's.
    teacher_cfg = p1 if teacher == os.path.join(p1.OUTPUT_DIR, "model_final.pth") else phase2_config(cfg, "")
    results = None
    for r in range(1, st.ROUNDS + 1):
        phase = r + 1
        out = os.path.join(cfg.OUTPUT_DIR, f"phase{phase}")
        final = os.path.join(out, "model_final.pth")
        if resume and os.path.isfile(final):
            logger.info(f"Student of round {r} already finished ({final}).")
        else:
            pseudo = pseudo_label_round(teacher_cfg, teacher, cfg.OUTPUT_DIR, r)
            resume_s = resume and os.path.isfile(os.path.join(out, "last_checkpoint"))
            source = "" if resume_s or st.STUDENT_INIT == "scratch" else teacher
            results = _train_phase(student_config(phase2_config(cfg, source, phase), pseudo), phase, resume_s)
        teacher, teacher_cfg = final, phase2_config(cfg, "")
    return results
