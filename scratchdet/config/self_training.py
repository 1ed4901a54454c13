"""Config keys of self-training with pseudo-labels (scratchdet.engine.run.self_training): a teacher
(phase 1, or MODEL.WEIGHTS) labels unlabelled images, a student learns from labels and
pseudo-labels (Zoph et al. 2020, "Rethinking Pre-training and Self-training")."""

from detectron2.config import CfgNode as CN


def add_self_training_config(cfg: CN) -> None:
    _C = cfg
    _C.SCRATCHDET.SELF_TRAINING = CN()
    # Turn a two-phase run (SCRATCHDET.PHASE1.ENABLED) into teacher -> pseudo-labels -> student:
    # phase 1 trains the teacher on DATASETS.TRAIN (or RUN_PHASES "finetune" takes the teacher
    # from MODEL.WEIGHTS), then each round's student trains on DATASETS.TRAIN + the pseudo-labels.
    _C.SCRATCHDET.SELF_TRAINING.ENABLED = False
    # Names of the datasets the teacher labels (their own labels, if any, are ignored), e.g.
    # folders registered with SCRATCHDET.DATA.UNLABELLED.
    _C.SCRATCHDET.SELF_TRAINING.UNLABELLED = []
    # Predictions of the teacher scoring at least this become pseudo-labels (Zoph et al.: 0.5).
    _C.SCRATCHDET.SELF_TRAINING.SCORE_THRESH = 0.5
    # Optional per-class thresholds, one per class in dataset order; [] uses SCORE_THRESH for all.
    _C.SCRATCHDET.SELF_TRAINING.SCORE_THRESH_PER_CLASS = []
    # The student's start: "scratch" (random initialisation, as Zoph et al.) or "teacher"
    # (the teacher's weights through the hand-over).
    _C.SCRATCHDET.SELF_TRAINING.STUDENT_INIT = "scratch"
    # Rounds of pseudo-labelling + student; round r > 1 is taught by round r-1's student.
    # Round r's student is phase r+1 (OUTPUT_DIR/phase2, phase3, ...).
    _C.SCRATCHDET.SELF_TRAINING.ROUNDS = 1
    # Pseudo-labelled images drawn in OUTPUT_DIR/pseudo_labels_round<r>.png (0 disables it).
    _C.SCRATCHDET.SELF_TRAINING.VIS_NUM_IMAGES = 6


def self_training_errors(cfg: CN) -> list[str]:
    """Messages for SCRATCHDET.SELF_TRAINING values that cannot run."""
    st = cfg.SCRATCHDET.SELF_TRAINING
    if not st.ENABLED:
        return []
    errors = []
    if not st.UNLABELLED:
        errors.append("SCRATCHDET.SELF_TRAINING.UNLABELLED is empty: list the datasets the teacher labels "
                      "(e.g. a folder registered with SCRATCHDET.DATA.UNLABELLED).")
    if not cfg.SCRATCHDET.PHASE1.ENABLED:
        errors.append("SCRATCHDET.SELF_TRAINING.ENABLED needs SCRATCHDET.PHASE1.ENABLED True (phase 1 trains the "
                      "teacher; or RUN_PHASES finetune with the teacher in MODEL.WEIGHTS).")
    if st.STUDENT_INIT not in ("scratch", "teacher"):
        errors.append(f"SCRATCHDET.SELF_TRAINING.STUDENT_INIT={st.STUDENT_INIT!r}: use 'scratch' or 'teacher'.")
    if st.ROUNDS < 1:
        errors.append(f"SCRATCHDET.SELF_TRAINING.ROUNDS={st.ROUNDS}: use 1 or more.")
    if not 0.0 <= st.SCORE_THRESH <= 1.0:
        errors.append(f"SCRATCHDET.SELF_TRAINING.SCORE_THRESH={st.SCORE_THRESH}: use a score in [0, 1].")
    return errors
