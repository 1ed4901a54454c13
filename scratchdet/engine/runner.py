"""The one run path: a training job is a run of one phase (the config itself) or of two (phase 1
then phase 2, SCRATCHDET.PHASE1.ENABLED); every phase's config is made and checked once, before
any phase trains; each phase is a :class:`Trainer` run whose results ``train()`` returns.
Evaluation (--eval-only) builds the model and loads its weights through the same checkpointer."""

from __future__ import annotations

import logging
import os

from detectron2.config import CfgNode
from detectron2.evaluation import verify_results
from detectron2.utils import comm

from ..checkpoint import ScratchCheckpointer
from ..config.checks import config_errors, raise_config_errors
from ..config.errors import ConfigError
from ..data.datasets import register_datasets_from_config
from ..evaluation.results_file import save_results
from ..io.atomic import atomic_open
from .cpu_threads import configure_cpu
from .epochs import epochs_to_iterations
from .phases import config_for_eval, merge_phase_outputs, phase1_config, phase2_config, phase_name
from .resume_check import config_file_to_write
from .setup import check_run_config
from .trainer import Trainer

logger = logging.getLogger(__name__)


def _train_phase(cfg: CfgNode, resume: bool, phase: int | None = None):
    """Train one phase (``phase`` None: a single-phase job, whose OUTPUT_DIR/config.yaml the
    set-up wrote already); save and return its final evaluation results."""
    if phase is not None:
        logger.info(f"===== Phase {phase} ({phase_name(phase)}): output in {cfg.OUTPUT_DIR} =====")
        if comm.is_main_process():
            os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
            # On --resume the record of the config the phase started with is kept (resume_check).
            with atomic_open(config_file_to_write(cfg.OUTPUT_DIR, resume), "w") as f:
                f.write(cfg.dump())
        comm.synchronize()
    cfg = epochs_to_iterations(cfg)  # SOLVER.MAX_EPOCHS: iterations from this phase's training set
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=resume)
    results = trainer.train()
    comm.synchronize()
    save_results(cfg.OUTPUT_DIR, results, "final_results.json")
    return results


def train(cfg: CfgNode, resume: bool):
    """Run the phases of the config (see module doc); returns the last phase's evaluation results."""
    world = comm.get_world_size()
    # The datasets the config declares exist before anything needs their classes (DEYO's and
    # jigsaw's class counts, a teacher's pseudo-labels) or phase 1 trains for minutes.
    register_datasets_from_config(cfg)
    if not cfg.SCRATCHDET.PHASE1.ENABLED:
        check_run_config(cfg, world_size=world, training=True)
        return _train_phase(cfg, resume)
    run = cfg.SCRATCHDET.RUN_PHASES
    if run not in ("all", "pretrain", "finetune"):
        raise ConfigError(f"SCRATCHDET.RUN_PHASES={run!r}: use 'all', 'pretrain' or 'finetune'.")
    # The whole config's own checks (the PHASE1 block's keys named as such, self-training's keys),
    # then each phase's.
    raise_config_errors(config_errors(cfg, world, training=True))
    p1 = phase1_config(cfg)
    p1_final = os.path.join(p1.OUTPUT_DIR, "model_final.pth")
    p2_dir = os.path.join(cfg.OUTPUT_DIR, "phase2")
    resume_p2 = resume and os.path.isfile(os.path.join(p2_dir, "last_checkpoint"))
    source = p1_final if run == "all" else (cfg.MODEL.WEIGHTS or p1_final)
    # Resuming phase 2 loads its own last checkpoint (the trainer ignores MODEL.WEIGHTS then).
    p2 = phase2_config(cfg, source)
    if run in ("all", "pretrain"):
        check_run_config(p1, world_size=world, training=True)
    if run in ("all", "finetune"):
        check_run_config(p2, world_size=world, training=True)
    results = None
    if run in ("all", "pretrain"):
        if resume and os.path.isfile(p1_final):
            logger.info(f"Phase 1 already finished ({p1_final}): continuing with phase 2.")
        else:
            results = _train_phase(p1, resume, phase=1)
    if run in ("all", "finetune"):
        if cfg.SCRATCHDET.SELF_TRAINING.ENABLED:
            results = _student_rounds(cfg, p1, source, resume)
        else:
            results = _train_phase(p2, resume_p2, phase=2)
    merge_phase_outputs(cfg, p1)
    save_results(cfg.OUTPUT_DIR, results, "final_results.json")  # the last phase's, where the user looks
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
            student = student_config(phase2_config(cfg, source, phase), pseudo)
            check_run_config(student, world_size=comm.get_world_size(), training=True)
            results = _train_phase(student, resume_s, phase=phase)
        teacher, teacher_cfg = final, phase2_config(cfg, "")
    return results


def evaluate(cfg: CfgNode, resume: bool):
    """Evaluate MODEL.WEIGHTS (or, with ``resume``, OUTPUT_DIR's last checkpoint) on DATASETS.TEST;
    the results are saved as OUTPUT_DIR/eval_results.json and returned."""
    register_datasets_from_config(cfg)
    cfg = config_for_eval(cfg)
    check_run_config(cfg, world_size=comm.get_world_size(), training=False)
    if not cfg.MODEL.WEIGHTS and not resume:
        raise ConfigError("--eval-only needs a checkpoint: add MODEL.WEIGHTS path/to/model_final.pth.")
    # The same CPU thread / loader worker choice as training (SCRATCHDET.CPU), logged.
    cfg = configure_cpu(cfg, comm.get_world_size())
    model = Trainer.build_model(cfg)
    checkpointer = ScratchCheckpointer.from_config(cfg, model, save_dir=cfg.OUTPUT_DIR, for_evaluation=True)
    checkpointer.resume_or_load(cfg.MODEL.WEIGHTS, resume=resume)
    results = Trainer.test(cfg, model)
    save_results(cfg.OUTPUT_DIR, results, "eval_results.json")
    if comm.is_main_process():
        verify_results(cfg, results)
    return results
