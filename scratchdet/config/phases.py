"""Config keys of two-phase training (pre-training, then fine-tuning, in one command); the
hand-over of weights between the phases has its own keys (handover.py)."""

from detectron2.config import CfgNode as CN


def add_phases_config(cfg: CN) -> None:
    """Add ``SCRATCHDET.PHASE1`` and ``SCRATCHDET.RUN_PHASES`` (in place)."""
    _C = cfg
    # Phase 1 (pre-training): a block of overrides with the same structure as the whole config
    # (e.g. PHASE1.INPUT.MIN_SIZE_TRAIN, PHASE1.SOLVER.MAX_ITER, PHASE1.MODEL.META_ARCHITECTURE),
    # applied on top of the config, whose own values describe phase 2 (fine-tuning).
    _C.SCRATCHDET.PHASE1 = CN(new_allowed=True)
    # Run phase 1 before the configured training (phase 2).
    _C.SCRATCHDET.PHASE1.ENABLED = False
    # Which phases this command runs: "all", "pretrain" (phase 1 only) or "finetune" (phase 2
    # only, from the phase-1 checkpoint in OUTPUT_DIR/phase1 or from MODEL.WEIGHTS).
    _C.SCRATCHDET.RUN_PHASES = "all"
