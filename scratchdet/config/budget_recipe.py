"""How to spend a fixed CPU budget on a user's own dataset: the rules of
``tools/train_own_data.py``, as pure functions of the dataset's statistics and the machine's
measured timings. Each rule names its reason; the studies behind them are in docs/own_dataset.md.

The order of decisions: (1) the test size, from the object sizes; (2) the training crop, from the
test size and the largest objects; (3) after a probe has measured s/iter: whether a
low-resolution phase 1 (direct pre-training) is worth its share, the iterations, the LR schedule
ending inside the budget, how often to validate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# (1) Objects are kept at their own size unless the median is larger than this. Measured at 10
# minutes (docs/own_dataset.md, "Measured: the object size"): aerial crowns of median 41 px scaled to 32 / 24 /
# 16 px gave 0.8 / 5.3 / 7.8 box AP on another scene against 1.2 at their size (seed 0; two seeds
# at 16 and at their size: 7.5 +- 0.4 against 1.0 +- 0.2), and nuclei of
# 22 px scaled to 16 tied (53.1 +- 2.6 against 53.4 +- 3.6): a smaller image is a cheaper step, and a
# detector from scratch on a budget learns more from more steps than from detail.
MAX_MEDIAN_OBJECT_PX = 16.0
# Never shrink the images below this share of their size (small objects must stay visible).
MIN_SCALE = 0.25
# (2) Train on random crops of this side (at the test scale) when the images are larger: the cost
# of a step falls with the pixels while objects keep their size and the model stays fully
# convolutional at test time (full images). A crop must hold the large objects: at least
# CROP_OBJECT_FACTOR times the 95th-percentile object.
MIN_CROP = 256
CROP_OBJECT_FACTOR = 4.0
# (3) Fewer passes than this over the training images at the target size: the detector is
# under-trained, and a low-resolution phase 1 (4x cheaper steps at half the size) buys passes.
MIN_PASSES_AT_TARGET = 100
PHASE1_SHARE = 0.5
PHASE1_SCALE = 0.5
# Images per batch (BN everywhere: 8 images is enough for batch statistics on one process) and the
# LR for it (the demo model's: BN everywhere takes it after a warm-up).
IMS_PER_BATCH = 8
BASE_LR = 0.03
# Validation takes at most this share of the budget, in at most MAX_EVALS evaluations.
EVAL_SHARE = 0.08
MAX_EVALS = 6
# Time kept in hand for what is not measured (writing checkpoints, drawing PNGs, start-up jitter).
SAFETY_SHARE = 0.04
MIN_ITERS = 20
# Model EMA: the average spans this share of the schedule at its end.
EMA_WINDOW_SHARE = 0.05
# Batches of phase-2 data over which BN statistics are re-estimated at the hand-over (the config's
# SCRATCHDET.HANDOVER.PRECISE_BN_ITERS): forward passes only, budgeted at half a step each.
PRECISE_BN_ITERS = 20
# Test-time augmentation for other scenes (detectron2's TEST.AUG: each image at these factors of the
# test size and h-flipped, detections merged by NMS), written into the chosen config with ENABLED
# False (periodic validation stays single-scale and cheap); `--eval-only ... TEST.AUG.ENABLED True`
# scores a test scene with it. Measured on every model it was tried on (docs/own_dataset.md, "Measured:
# test-time augmentation"): five tree models +1.4 to +2.3 box AP on the test scene and +0.6 to +3.2 on
# the other sites, nuclei +3.4, pedestrians a tie at ~0.
TTA_SCALES = (0.88, 1.0, 1.12, 1.28)


@dataclass
class InputChoice:
    test_size: int          # shorter side at test time (INPUT.MIN_SIZE_TEST)
    max_size: int           # INPUT.MAX_SIZE_TEST / MAX_SIZE_TRAIN
    scale: float            # test size / the images' median shorter side
    crop: int               # side of the square training crop at the test scale; 0 = whole images
    reason: str


@dataclass
class Timings:
    """Measured on this machine by the probe."""

    s_per_iter: float           # training step at the chosen size, crop and batch
    s_per_iter_phase1: float    # phase 1's step (0: not measured)
    eval_s_per_image: float     # inference + evaluation per validation image
    start_s: float              # a training's start-up (model, loaders) and end (final save, PNGs)
    eval_fixed_s: float = 0.0   # each evaluation's cost beyond its images (set-up, COCO evaluation)


@dataclass
class Schedule:
    phase1_iters: int
    iters: int
    warmup_iters: int
    eval_period: int
    evals: int
    passes: float               # passes over the training images by the detector at target size
    phase1_passes: float
    planned_s: float            # training + evaluations + start-ups, as planned
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def choose_input(median_short_side: float, max_aspect: float, object_px_p50: float, object_px_p95: float,
                 divisibility: int = 32, max_median_object_px: float = MAX_MEDIAN_OBJECT_PX) -> InputChoice:
    """Rules (1) and (2). Sizes are in the images' own pixels; ``max_median_object_px`` is rule
    (1)'s bound (``--object-px`` of the command)."""
    scale = 1.0
    reason = f"objects kept at their size (median {object_px_p50:.0f} px)"
    if object_px_p50 > max_median_object_px:
        scale = max(MIN_SCALE, max_median_object_px / object_px_p50)
        reason = (f"images scaled by {scale:.2f}: the median object ({object_px_p50:.0f} px) needs no more than "
                  f"{max_median_object_px:.0f} px")
    # The model pads its input to its size divisibility: the test size itself needs no rounding.
    test = max(divisibility, int(round(median_short_side * scale)))
    max_size = int(math.ceil(test * max_aspect / divisibility) * divisibility)
    crop_side = max(MIN_CROP, int(math.ceil(CROP_OBJECT_FACTOR * object_px_p95 * scale / divisibility) * divisibility))
    crop = crop_side if crop_side < test else 0
    if crop:
        reason += f"; training on random {crop} px crops of {test} px images (steps ~{(crop / test) ** 2:.2f}x the cost)"
    return InputChoice(test, max_size, round(test / median_short_side, 4), crop, reason)


def _evals(budget_s: float, eval_s: float) -> int:
    return max(1, min(MAX_EVALS, int(EVAL_SHARE * budget_s // max(eval_s, 1e-6))))


def choose_schedule(budget_s: float, spent_s: float, timings: Timings, train_images: int, val_images: int,
                    train_eval_images: int, allow_phase1: bool = True) -> Schedule:
    """Rule (3): fill what is left of ``budget_s`` (``spent_s`` used already, e.g. by the probe)
    with training, validations and the final evaluation on the training images.
    Raises ValueError naming the minimum budget when not even MIN_ITERS and one evaluation fit."""
    eval_s = val_images * timings.eval_s_per_image + timings.eval_fixed_s
    final_train_eval_s = (train_eval_images * timings.eval_s_per_image + timings.eval_fixed_s) if train_eval_images else 0.0
    left = budget_s * (1 - SAFETY_SHARE) - spent_s - final_train_eval_s - timings.start_s
    # As many validations as the share allows, fewer when they would leave less than MIN_ITERS steps.
    evals = max(1, min(_evals(budget_s, eval_s), int((left - MIN_ITERS * timings.s_per_iter) // max(eval_s, 1e-6))))
    train_s = left - evals * eval_s
    minimum = spent_s + final_train_eval_s + timings.start_s + eval_s + MIN_ITERS * timings.s_per_iter
    if train_s < MIN_ITERS * timings.s_per_iter:
        steps_s = MIN_ITERS * timings.s_per_iter
        raise ValueError(f"a budget of {budget_s / 60:.1f} minutes is too small on this machine: the probe took "
                         f"{spent_s:.0f} s, one evaluation takes {eval_s:.0f} s and {MIN_ITERS} steps {steps_s:.0f} s; "
                         f"give at least --minutes {math.ceil(minimum / (1 - SAFETY_SHARE) / 60 * 10) / 10:.1f}")
    iters = int(train_s // timings.s_per_iter)
    passes = iters * IMS_PER_BATCH / train_images
    p1_iters, p1_passes = 0, 0.0
    reason = f"{passes:.0f} passes over the training images at the target size"
    if allow_phase1 and passes < MIN_PASSES_AT_TARGET and timings.s_per_iter_phase1 > 0:
        # A second start-up (phase 2's trainer) and the hand-over's BN re-estimation come out of the budget.
        two_s = train_s - timings.start_s - PRECISE_BN_ITERS * timings.s_per_iter / 2  # + BN re-estimation
        p1 = int(two_s * PHASE1_SHARE // timings.s_per_iter_phase1)
        p2 = int(two_s * (1 - PHASE1_SHARE) // timings.s_per_iter)
        if p1 < MIN_ITERS or p2 < MIN_ITERS:  # too little time to split: one phase
            return _finish(0, iters, 0.0, passes, reason + " (too short for a phase 1)", evals, eval_s, spent_s,
                           timings, final_train_eval_s, train_images)
        p1_iters, iters = p1, p2
        p1_passes = p1_iters * IMS_PER_BATCH * 2 / train_images
        reason = (f"only {passes:.0f} passes at the target size (< {MIN_PASSES_AT_TARGET}): "
                  f"{PHASE1_SHARE:.0%} of the training time in a low-resolution phase 1 ({p1_passes:.0f} passes at "
                  f"{PHASE1_SCALE:.2f}x the size), then {iters * IMS_PER_BATCH / train_images:.0f} at the target")
        passes = iters * IMS_PER_BATCH / train_images
    return _finish(p1_iters, iters, p1_passes, passes, reason, evals, eval_s, spent_s, timings, final_train_eval_s,
                   train_images)


def _finish(p1_iters: int, iters: int, p1_passes: float, passes: float, reason: str, evals: int, eval_s: float,
            spent_s: float, timings: Timings, final_train_eval_s: float, train_images: int) -> Schedule:
    iters = max(iters, MIN_ITERS)
    period = max(1, math.ceil(iters / evals))  # evaluations at period, 2 period, ... and the last step
    planned = (spent_s + timings.start_s * (2 if p1_iters else 1) + p1_iters * timings.s_per_iter_phase1
               + iters * timings.s_per_iter + math.ceil(iters / period) * eval_s + final_train_eval_s)
    return Schedule(p1_iters, iters, min(100, max(1, iters // 10)), period, math.ceil(iters / period), round(passes, 1),
                    round(p1_passes, 1), round(planned, 1), reason)


def ema_opts(iters: int) -> list[str]:
    """EMA sized to the schedule: an averaging window of EMA_WINDOW_SHARE of the iterations
    (decay 1 - 1/window) reached after a warm-up of the same length. YOLOX's 0.9998 averages over
    ~5000 steps, which on a schedule of a few hundred keeps the average near the early weights
    (measured: the EMA rows of docs/own_dataset.md)."""
    window = max(10.0, EMA_WINDOW_SHARE * iters)
    return ["SCRATCHDET.EMA.DECAY", f"{1 - 1 / window:.6f}", "SCRATCHDET.EMA.WARMUP_ITERS", str(max(1, round(window)))]


def time_budget_opts(s: Schedule, t: Timings, val_images: int) -> list[str]:
    """Each phase's planned seconds as its SCRATCHDET.TIME_BUDGET: the probe's step time is an
    estimate (off by 5-25% on the studies' rows), so the trainer re-measures it as it goes and moves
    the last iteration to end on time."""
    eval_s = val_images * t.eval_s_per_image + t.eval_fixed_s
    opts = ["SCRATCHDET.TIME_BUDGET.SECONDS", str(round(s.iters * t.s_per_iter + s.evals * eval_s))]
    if s.phase1_iters:  # phase 1 is not evaluated
        opts += ["SCRATCHDET.PHASE1.SCRATCHDET.TIME_BUDGET.SECONDS", str(round(s.phase1_iters * t.s_per_iter_phase1))]
    return opts


def native_input(median_short_side: float, max_aspect: float, divisibility: int = 32) -> InputChoice:
    """The recipe before these rules (docs/own_dataset.md until this revision): whole images at
    their own size. Kept to compare against (``--rules native``)."""
    max_size = int(math.ceil(median_short_side * max_aspect / divisibility) * divisibility)
    return InputChoice(int(round(median_short_side)), max_size, 1.0, 0, "native rules: whole images at their size")


def tta_opts(test_size: int, max_size: int) -> list[str]:
    """TEST.AUG keys (not ENABLED) for a model tested at ``test_size`` / ``max_size``."""
    sizes = tuple(int(round(test_size * f)) for f in TTA_SCALES)
    # the cap scales with the largest (rounded) size, so no size is capped below its factor
    return ["TEST.AUG.MIN_SIZES", str(sizes), "TEST.AUG.MAX_SIZE", str(math.ceil(max_size * max(sizes) / test_size)),
            "TEST.AUG.FLIP", "True"]


def lr_steps(iters: int) -> tuple[int, ...]:
    """SOLVER.STEPS of a schedule of ``iters``: the LR divided by 10 at 75% and again at 90%
    (SCRATCHDET.TIME_BUDGET moves them with MAX_ITER: detectron2's steps are fractions of it)."""
    return tuple(sorted({max(1, int(iters * 0.75)), max(1, int(iters * 0.9))}))


def schedule_opts(s: Schedule, inp: InputChoice, ims_per_batch: int = IMS_PER_BATCH, native: bool = False) -> list[str]:
    """The config opts (KEY VALUE list) of a schedule and input choice, for the own-data base
    config. ``native``: the earlier recipe, without EMA."""
    lr = BASE_LR * ims_per_batch / IMS_PER_BATCH
    opts = ["INPUT.MIN_SIZE_TEST", str(inp.test_size), "INPUT.MAX_SIZE_TEST", str(inp.max_size),
            "INPUT.MIN_SIZE_TRAIN", f"({inp.test_size},)", "INPUT.MAX_SIZE_TRAIN", str(inp.max_size),
            "SCRATCHDET.AUG.CROP_AFTER_RESIZE", str(inp.crop),
            "SOLVER.IMS_PER_BATCH", str(ims_per_batch), "SOLVER.BASE_LR", str(lr),
            # Steps at 75% and 90% of the schedule (which ends inside the budget), not a cosine: at
            # 10 minutes on nuclei (two seeds) the cosine cost 6-11 AP with or without EMA
            # (docs/own_dataset.md, "Measured: the command against the earlier recipe"): a short
            # schedule under-fits, and the cosine lowers the LR from the first step on.
            "SOLVER.LR_SCHEDULER_NAME", "WarmupMultiStepLR", "SOLVER.MAX_ITER", str(s.iters),
            "SOLVER.STEPS", str(lr_steps(s.iters)),
            "SOLVER.WARMUP_ITERS", str(s.warmup_iters), "TEST.EVAL_PERIOD", str(s.eval_period),
            "SOLVER.CHECKPOINT_PERIOD", str(s.eval_period),
            "SCRATCHDET.EMA.ENABLED", "True", *ema_opts(s.iters), *tta_opts(inp.test_size, inp.max_size)]
    if native:
        opts += ["SCRATCHDET.EMA.ENABLED", "False"]
    if s.phase1_iters:
        low = max(32, int(round(inp.test_size * PHASE1_SCALE / 32) * 32))
        opts += ["SCRATCHDET.PHASE1.ENABLED", "True", "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(s.phase1_iters),
                 "SCRATCHDET.PHASE1.SOLVER.WARMUP_ITERS", str(min(100, max(1, s.phase1_iters // 10))),
                 "SCRATCHDET.PHASE1.SOLVER.CHECKPOINT_PERIOD", str(max(1, s.phase1_iters // 4)),
                 # low resolution makes room for twice the images (the paper's "large batch")
                 "SCRATCHDET.PHASE1.SOLVER.IMS_PER_BATCH", str(2 * ims_per_batch),
                 "SCRATCHDET.PHASE1.SOLVER.BASE_LR", str(lr),
                 "SCRATCHDET.PHASE1.SCRATCHDET.DATA.TRAIN_MAPPER", "LowResPretrainMapper",
                 "SCRATCHDET.PHASE1.SOLVER.LR_SCHEDULER_NAME", "WarmupMultiStepLR",
                 "SCRATCHDET.PHASE1.SOLVER.STEPS", "()", "SCRATCHDET.PHASE1.TEST.EVAL_PERIOD", "0",
                 # phase 1 is not evaluated (its end-of-training evaluation and PNG are not budgeted)
                 "SCRATCHDET.PHASE1.DATASETS.TEST", "()", "SCRATCHDET.PHASE1.SCRATCHDET.VIS.NUM_IMAGES", "0",
                 "SCRATCHDET.PHASE1.SCRATCHDET.AUG.CROP_AFTER_RESIZE", "0",
                 *("SCRATCHDET.PHASE1." + v if i % 2 == 0 else v for i, v in enumerate(ema_opts(s.phase1_iters))),
                 "SCRATCHDET.PHASE1.SCRATCHDET.LOWRES.IMAGE_SIZE", str(low)]
    return opts
