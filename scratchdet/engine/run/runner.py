"""The one run path: a training job is a run of one phase (the config itself) or of two (phase 1
then phase 2, SCRATCHDET.PHASE1.ENABLED); the set-up step (:mod:`.plan`) resolves and checks
every phase once, before any phase trains; each phase is a :class:`Trainer` run of its plan,
whose results ``train()`` returns. Evaluation (--eval-only) is set up the same way, then builds
the model and loads its weights through the same checkpointer."""

from __future__ import annotations

import logging
import os

from detectron2.config import CfgNode
from detectron2.evaluation import verify_results
from detectron2.utils import comm

from ...checkpoint import ScratchCheckpointer
from ...config.errors import ConfigError
from ...evaluation.results_file import save_results
from ...io.atomic import atomic_open
from ..setup.checks import check_run_config
from ..setup.plan import PhasePlan, plan_phase, register_run_datasets, resolve_class_counts
from ..train.cpu_threads import configure_cpu
from ..train.resume_check import config_file_to_write
from ..train.trainer import Trainer
from .phases import config_for_eval, merge_phase_outputs, phase1_config, phase2_config, phase_name

logger = logging.getLogger(__name__)


def _train_phase(plan: PhasePlan, resume: bool):
    """Train one planned phase (``plan.phase`` None: a single-phase job, whose
    OUTPUT_DIR/config.yaml train_net.py wrote already); save and return its final evaluation results."""
    cfg, phase = plan.cfg, plan.phase
    if phase is not None:
        logger.info(f"===== Phase {phase} ({phase_name(phase)}): output in {cfg.OUTPUT_DIR} =====")
        if comm.is_main_process():
            os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
            # On --resume the record of the config the phase started with is kept (resume_check).
            with atomic_open(config_file_to_write(cfg.OUTPUT_DIR, resume), "w") as f:
                f.write(cfg.dump())
        comm.synchronize()
    trainer = Trainer(cfg, plan.train_dicts)
    trainer.resume_or_load(resume=resume)
    results = trainer.train()
    comm.synchronize()
    save_results(cfg.OUTPUT_DIR, results, "final_results.json")
    return results


def train(cfg: CfgNode, resume: bool):
    """Run the phases of the config (see module doc); returns the last phase's evaluation results."""
    world = comm.get_world_size()
    # Set-up (once): the datasets the config declares exist before anything needs their classes
    # (DEYO's and jigsaw's class counts, a teacher's pseudo-labels) or phase 1 trains for minutes.
    register_run_datasets(cfg)
    if not cfg.SCRATCHDET.PHASE1.ENABLED:
        return _train_phase(plan_phase(cfg, world), resume)
    run = cfg.SCRATCHDET.RUN_PHASES
    if run not in ("all", "pretrain", "finetune"):
        raise ConfigError(f"SCRATCHDET.RUN_PHASES={run!r}: use 'all', 'pretrain' or 'finetune'.")
    # Phase 2's checks are the whole config's (the PHASE1 block's keys named as such, self-training's
    # keys): its model and schedule are the config's own.
    check_run_config(cfg, world_size=world, training=True)
    p1 = phase1_config(cfg)
    p1_final = os.path.join(p1.OUTPUT_DIR, "model_final.pth")
    p2_dir = os.path.join(cfg.OUTPUT_DIR, "phase2")
    resume_p2 = resume and os.path.isfile(os.path.join(p2_dir, "last_checkpoint"))
    source = p1_final if run == "all" else (cfg.MODEL.WEIGHTS or p1_final)
    # Resuming phase 2 loads its own last checkpoint (the trainer ignores MODEL.WEIGHTS then).
    plan1 = plan_phase(p1, world, phase=1) if run in ("all", "pretrain") else None
    # Self-training's students are planned per round (their pseudo-labels do not exist yet).
    plan2 = (plan_phase(phase2_config(cfg, source), world, phase=2, check=False)
             if run in ("all", "finetune") and not cfg.SCRATCHDET.SELF_TRAINING.ENABLED else None)
    results = None
    if plan1 is not None:
        if resume and os.path.isfile(p1_final):
            logger.info(f"Phase 1 already finished ({p1_final}): continuing with phase 2.")
        else:
            results = _train_phase(plan1, resume)
    if run in ("all", "finetune"):
        if cfg.SCRATCHDET.SELF_TRAINING.ENABLED:
            results = _student_rounds(cfg, p1, source, resume)
        else:
            results = _train_phase(plan2, resume_p2)
    merge_phase_outputs(cfg, p1)
    save_results(cfg.OUTPUT_DIR, results, "final_results.json")  # the last phase's, where the user looks
    return results


def _student_rounds(cfg: CfgNode, p1: CfgNode, teacher: str, resume: bool):
    """Self-training: per round, the teacher pseudo-labels SELF_TRAINING.UNLABELLED, then a
    student (phase round+1) trains on DATASETS.TRAIN + the pseudo-labels; it teaches the next round."""
    from .self_training import pseudo_label_round, student_config

    st = cfg.SCRATCHDET.SELF_TRAINING
    # The first teacher has phase 1's architecture when it comes from phase 1, else the config's
    # (both with the classes the set-up step resolved: the teachers are built from them).
    config_teacher = resolve_class_counts(phase2_config(cfg, ""))
    teacher_cfg = resolve_class_counts(p1) if teacher == os.path.join(p1.OUTPUT_DIR, "model_final.pth") else config_teacher
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
            student = student_config(phase2_config(cfg, source, phase), pseudo)
            results = _train_phase(plan_phase(student, comm.get_world_size(), phase=phase), resume_s)
        teacher, teacher_cfg = final, config_teacher
    return results


def evaluate(cfg: CfgNode, resume: bool):
    """Evaluate MODEL.WEIGHTS (or, with ``resume``, OUTPUT_DIR's last checkpoint) on DATASETS.TEST;
    the results are saved as OUTPUT_DIR/eval_results.json and returned."""
    register_run_datasets(cfg)
    cfg = plan_phase(config_for_eval(cfg), comm.get_world_size(), training=False).cfg
    if not cfg.MODEL.WEIGHTS and not resume:
        raise ConfigError("--eval-only needs a checkpoint: add MODEL.WEIGHTS path/to/model_final.pth.")
    # The same CPU thread / loader worker choice as training (SCRATCHDET.CPU), logged.
    cfg = configure_cpu(cfg, comm.get_world_size())
    model = Trainer.build_model(cfg)
    checkpointer = ScratchCheckpointer.from_config(cfg, model, save_dir=cfg.OUTPUT_DIR, for_evaluation=True)
    checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=resume)
    results = Trainer.test(cfg, model)
    if cfg.TEST.AUG.ENABLED:  # detectron2's TTA, beside the plain results (as its tools/train_net.py)
        results.update(Trainer.test_with_TTA(cfg, model))
    save_results(cfg.OUTPUT_DIR, results, "eval_results.json")
    if comm.is_main_process():
        verify_results(cfg, results)
    return results
