"""The config keys scratchdet adds to detectron2's defaults, one comment per key."""

from detectron2.config import CfgNode as CN

from .augmentation import add_augmentation_config
from .backbone import add_backbone_config
from .cpu import add_cpu_config
from .data import add_data_config
from .deyo import add_deyo_config
from .ema import add_ema_config
from .freeze import add_freeze_config
from .handover import add_handover_config
from .jigsaw import add_jigsaw_config
from .lowres import add_lowres_config
from .mae import add_mae_config
from .norm import add_norm_config
from .phases import add_phases_config
from .self_training import add_self_training_config
from .solver import add_solver_config
from .ssd import add_ssd_config
from .time_budget import add_time_budget_config
from .validation import add_validation_config
from .vit import add_vit_config


def add_scratchdet_config(cfg: CN) -> None:
    """Add scratchdet's keys to a detectron2 config (in place), in the style of PointRend's
    ``add_pointrend_config``. Call it before ``merge_from_file``."""
    _C = cfg
    _C.SCRATCHDET = CN()

    # Every SCRATCHDET.DATA key (the block is created there, once).
    add_data_config(cfg)

    # Names, in scratchdet.engine.HOOK_REGISTRY, of extra training hooks the Trainer adds.
    _C.SCRATCHDET.HOOKS = []

    # A schedule in epochs (passes over DATASETS.TRAIN) instead of iterations: when MAX_EPOCHS > 0,
    # SOLVER.MAX_ITER and SOLVER.STEPS are computed from it, the training set's size and
    # IMS_PER_BATCH when training starts (logged). Warm-up and checkpoint/eval periods stay in iterations.
    _C.SOLVER.MAX_EPOCHS = 0
    # Epochs at which the LR decays (SOLVER.GAMMA), e.g. (9, 11) for 12 epochs.
    _C.SOLVER.STEPS_EPOCHS = ()

    _C.SCRATCHDET.CHECKPOINT = CN()
    # Refuse MODEL.WEIGHTS when fewer than this fraction of the model's parameters are found in
    # the checkpoint with the right shape (a checkpoint from another model). 0 disables the check.
    _C.SCRATCHDET.CHECKPOINT.MIN_MATCHED_FRACTION = 0.5
    # Checkpoints are read with torch.load(weights_only=True): tensors and numbers only, no code.
    # True also reads legacy pickles (.pkl model-zoo files, .pth files holding other objects),
    # which run whatever code the file holds: only for a file you trust.
    _C.SCRATCHDET.CHECKPOINT.ALLOW_PICKLE = False
    # Keep only this many of the newest periodic checkpoints (model_0004999.pth, ...) in OUTPUT_DIR,
    # counting those an earlier run of the folder left (--resume); model_final.pth and
    # model_best.pth are always kept. 0 keeps every one, as detectron2 does.
    _C.SCRATCHDET.CHECKPOINT.MAX_TO_KEEP = 0

    _C.SCRATCHDET.BEST_CHECKPOINT = CN()
    # Metric (as in metrics.json, e.g. "bbox/AP", "segm/AP", "bbox/AP50") whose best value on the
    # validation set (DATASETS.TEST, every TEST.EVAL_PERIOD iterations) keeps OUTPUT_DIR/model_best.pth.
    # "" disables it; nothing is kept when TEST.EVAL_PERIOD is 0.
    _C.SCRATCHDET.BEST_CHECKPOINT.METRIC = "bbox/AP"
    # "max" (AP) or "min" (a loss).
    _C.SCRATCHDET.BEST_CHECKPOINT.MODE = "max"

    _C.SCRATCHDET.VIS = CN()
    # Number of validation images drawn with their predictions in OUTPUT_DIR/predictions.png
    # after training (0 disables it).
    _C.SCRATCHDET.VIS.NUM_IMAGES = 6
    # Predictions below this score are not drawn.
    _C.SCRATCHDET.VIS.SCORE_THRESH = 0.5
    # Write OUTPUT_DIR/loss_curve.png from metrics.json every this many iterations and at the end.
    _C.SCRATCHDET.VIS.LOSS_CURVE_PERIOD = 200

    # Each topic adds its own keys (one file per topic under scratchdet/config/).
    add_deyo_config(cfg)
    add_augmentation_config(cfg)
    add_backbone_config(cfg)
    add_norm_config(cfg)
    add_jigsaw_config(cfg)
    add_ssd_config(cfg)
    add_phases_config(cfg)
    add_handover_config(cfg)
    add_freeze_config(cfg)
    add_lowres_config(cfg)
    add_vit_config(cfg)
    add_solver_config(cfg)
    add_mae_config(cfg)
    add_self_training_config(cfg)
    add_cpu_config(cfg)
    add_ema_config(cfg)
    add_validation_config(cfg)
    add_time_budget_config(cfg)
