"""Config keys of two-phase training (pre-training, then fine-tuning, in one command) and of the
hand-over of weights between the phases."""

from detectron2.config import CfgNode as CN


def add_phases_config(cfg: CN) -> None:
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

    _C.SCRATCHDET.HANDOVER = CN()
    # Checkpoint whose weights are handed to the model when it is built (set by the phase runner;
    # set it yourself to fine-tune from any phase-1 checkpoint). "" = none.
    _C.SCRATCHDET.HANDOVER.SOURCE = ""
    # Prefix rewrites of the source's keys, [[from, to], ...], e.g. [["backbone.", "backbone.bottom_up."]]
    # to hand a classifier's backbone to an FPN detector.
    _C.SCRATCHDET.HANDOVER.KEY_MAP = []
    # Iterations of phase-2 training data over which BatchNorm statistics are re-estimated after the
    # hand-over, before anything is frozen: statistics gathered at phase 1's resolution do not fit
    # phase 2's (fine-tuning from them diverged here). 0 disables it.
    _C.SCRATCHDET.HANDOVER.PRECISE_BN_ITERS = 20
    # Part of the phase-2 model frozen after the hand-over (weights and BN statistics):
    # "" (nothing), "backbone" (the bottom-up network), "backbone+neck" (backbone and FPN) or
    # "stages:N" (ResNet stem and stages res2..res(N), as MODEL.BACKBONE.FREEZE_AT N).
    _C.SCRATCHDET.HANDOVER.FREEZE = ""

    _C.SCRATCHDET.LOWRES = CN()
    # Side of the square training images of mapper "LowResPretrainMapper" (the paper: 448).
    _C.SCRATCHDET.LOWRES.IMAGE_SIZE = 448
    # (min, max) scale jitter: the image is resized to fit s * IMAGE_SIZE (the paper: 0.8-1.2).
    _C.SCRATCHDET.LOWRES.SCALE_RANGE = (0.8, 1.2)
