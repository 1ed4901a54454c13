"""Config keys of the model's exponential moving average (scratchdet.engine.hooks.model_ema)."""

from detectron2.config import CfgNode as CN


def add_ema_config(cfg: CN) -> None:
    """Add SCRATCHDET.EMA (in place)."""
    _C = cfg
    _C.SCRATCHDET.EMA = CN()
    # Keep an exponential moving average of the weights (and BN statistics) after every step.
    # The average is what evaluation, model_best.pth, model_final.pth and the predictions PNG use;
    # the trained weights stay in each checkpoint (key "raw_model") so that --resume continues them.
    _C.SCRATCHDET.EMA.ENABLED = False
    # The decay the average approaches: ema = d * ema + (1 - d) * weights; it averages about the
    # last 1 / (1 - d) steps. YOLOX's value (a window of 5000 steps) suits its long schedules; on a
    # schedule of a few hundred steps it keeps the average near the early weights: there use
    # 1 - 20 / MAX_ITER (a window of 5% of the schedule), as tools/train_own_data.py does.
    _C.SCRATCHDET.EMA.DECAY = 0.9998
    # Warm-up of the decay, as YOLOX and Ultralytics do: d_t = DECAY * (1 - exp(-t / WARMUP_ITERS)),
    # so the average follows the fast-changing early weights and averages longer later (their 2000;
    # MAX_ITER / 20 with the short-schedule decay above).
    _C.SCRATCHDET.EMA.WARMUP_ITERS = 2000
