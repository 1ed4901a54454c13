"""Config keys of what happens at each validation besides AP: the validation loss and early
stopping (scratchdet.engine.hooks.validation_loss, early_stop); and of how evaluation and
prediction run the model (SCRATCHDET.TEST: scratchdet.modeling.conv_bn_fusion)."""

from detectron2.config import CfgNode as CN


def add_validation_config(cfg: CN) -> None:
    """Add SCRATCHDET.VAL_LOSS, SCRATCHDET.EARLY_STOP and SCRATCHDET.TEST (in place)."""
    _C = cfg
    _C.SCRATCHDET.VAL_LOSS = CN()
    # At each evaluation of TEST.EVAL_PERIOD, also compute the training losses on the first test
    # dataset's images (test-time resize, no augmentation, norm statistics not updated) and log them
    # as val_<loss> beside AP (metrics.json, TensorBoard, loss_curve.png): over-fitting shows as a
    # validation loss that rises while the training loss falls. Costs about one inference pass.
    _C.SCRATCHDET.VAL_LOSS.ENABLED = True
    # Images of the validation set used for the loss (0: all of them); a cap keeps it cheap on large sets.
    _C.SCRATCHDET.VAL_LOSS.MAX_IMAGES = 100

    _C.SCRATCHDET.EARLY_STOP = CN()
    # Stop training when SCRATCHDET.BEST_CHECKPOINT.METRIC (in its MODE) has not improved by more
    # than MIN_DELTA for this many evaluations in a row; model_final.pth is the model at the stop,
    # model_best.pth the best one. 0 disables it. Needs TEST.EVAL_PERIOD > 0.
    _C.SCRATCHDET.EARLY_STOP.PATIENCE = 0
    # Smallest change of the metric that counts as an improvement (AP points for bbox/AP).
    _C.SCRATCHDET.EARLY_STOP.MIN_DELTA = 0.0

    _C.SCRATCHDET.TEST = CN()
    # Evaluate (TEST.EVAL_PERIOD, the final evaluation, --eval-only) and predict (tools/predict.py)
    # with a copy of the model whose BatchNorms are folded into the convolutions before them
    # (scratchdet.modeling.conv_bn_fusion): the same outputs up to float rounding, one pass less
    # over each feature map. The trained model and checkpoints are unchanged. Speed measured by
    # bench/cpu_minute.py --option fuse_eval.
    _C.SCRATCHDET.TEST.FUSE_CONV_BN = False
