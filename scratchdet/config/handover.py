"""Config keys of the hand-over of weights that arrive by MODEL.WEIGHTS (phase 2 of a two-phase
run loads phase 1's checkpoint by MODEL.WEIGHTS too, through the same checkpointer)."""

from detectron2.config import CfgNode as CN


def add_handover_config(cfg: CN) -> None:
    """Add ``SCRATCHDET.HANDOVER.*`` (in place)."""
    _C = cfg
    _C.SCRATCHDET.HANDOVER = CN()
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
