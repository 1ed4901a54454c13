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
    # How weights that arrive by MODEL.WEIGHTS are handed to the model (phase 2 of a two-phase run
    # loads phase 1's checkpoint by MODEL.WEIGHTS too, through the same checkpointer):
    # Prefix rewrites of the checkpoint's keys, [[from, to], ...], e.g. [["backbone.", "backbone.bottom_up."]]
    # to hand a classifier's backbone to an FPN detector.
    _C.SCRATCHDET.HANDOVER.KEY_MAP = []
    # Iterations of training data over which BatchNorm statistics (trainable and frozen BN alike)
    # are re-estimated after MODEL.WEIGHTS is loaded (not on --resume): statistics gathered at
    # another resolution (phase 1's) do not fit this training's (fine-tuning from them diverged
    # here). 0 disables it.
    _C.SCRATCHDET.HANDOVER.PRECISE_BN_ITERS = 20
    # Replaced by MODEL.WEIGHTS (any checkpoint given there is handed over the same way); setting
    # it is an error that says so.
    _C.SCRATCHDET.HANDOVER.SOURCE = ""
    # Replaced by SCRATCHDET.FREEZE ("backbone", "backbone+neck") and MODEL.BACKBONE.FREEZE_AT N
    # (for "stages:N"); setting it is an error that says so.
    _C.SCRATCHDET.HANDOVER.FREEZE = ""

    # Part of the model frozen for training (weights and BN statistics, BN becoming FrozenBN):
    # "" (nothing), "backbone" (the bottom-up network) or "backbone+neck" (backbone and FPN).
    # To freeze only the stem and first ResNet stages use detectron2's MODEL.BACKBONE.FREEZE_AT.
    # In a two-phase run it applies to phase 2 (set SCRATCHDET.PHASE1.SCRATCHDET.FREEZE for phase 1).
    _C.SCRATCHDET.FREEZE = ""

    _C.SCRATCHDET.LOWRES = CN()
    # Side of the square training images of mapper "LowResPretrainMapper" (the paper: 448).
    _C.SCRATCHDET.LOWRES.IMAGE_SIZE = 448
    # (min, max) scale jitter: the image is resized to fit s * IMAGE_SIZE (the paper: 0.8-1.2).
    _C.SCRATCHDET.LOWRES.SCALE_RANGE = (0.8, 1.2)
