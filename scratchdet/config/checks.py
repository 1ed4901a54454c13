"""Config checks that turn bad combinations into one clear message naming the keys to change,
instead of a stack trace from deep inside torch."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from detectron2.config import CfgNode

from .cpu import COMPILE_PARTS
from .freeze import freeze_errors
from .keys import get_key, has_key
from .norm_policy import EMPTY_BATCH_HEADS, SYNC_BN, norm_policy_errors, unapplied_norm_policy_errors
from .self_training import self_training_errors

# detectron2's get_norm builds GroupNorm with 32 groups.
GN_GROUPS = 32


def iter_norm_keys(cfg: CfgNode, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Yield (full key, value) of every ``NORM`` key in the config tree."""
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, CfgNode):
            yield from iter_norm_keys(v, key + ".")
        elif k == "NORM" or k.endswith("_NORM"):
            yield key, v


def _channels_under_norm(cfg: CfgNode) -> list[tuple[str, str, int]]:
    """(norm key, channel key, channels) of the layers each norm key normalises."""
    m = cfg.MODEL
    out = []
    r = m.RESNETS
    out.append(("MODEL.RESNETS.NORM", "MODEL.RESNETS.STEM_OUT_CHANNELS", r.STEM_OUT_CHANNELS))
    bottleneck = r.NUM_GROUPS * r.WIDTH_PER_GROUP
    for i in range(4):
        out.append(("MODEL.RESNETS.NORM", "MODEL.RESNETS.RES2_OUT_CHANNELS", r.RES2_OUT_CHANNELS * 2**i))
        if r.DEPTH >= 50:
            out.append(("MODEL.RESNETS.NORM", "MODEL.RESNETS.NUM_GROUPS x WIDTH_PER_GROUP", bottleneck * 2**i))
    out.append(("MODEL.FPN.NORM", "MODEL.FPN.OUT_CHANNELS", m.FPN.OUT_CHANNELS))
    if m.ROI_BOX_HEAD.NUM_CONV > 0:
        out.append(("MODEL.ROI_BOX_HEAD.NORM", "MODEL.ROI_BOX_HEAD.CONV_DIM", m.ROI_BOX_HEAD.CONV_DIM))
    if m.MASK_ON:
        out.append(("MODEL.ROI_MASK_HEAD.NORM", "MODEL.ROI_MASK_HEAD.CONV_DIM", m.ROI_MASK_HEAD.CONV_DIM))
    out.append(("MODEL.RETINANET.NORM", "MODEL.FPN.OUT_CHANNELS", m.FPN.OUT_CHANNELS))
    return out


PHASE1_BLOCK = "SCRATCHDET.PHASE1."
LR_SCHEDULERS = ("WarmupMultiStepLR", "WarmupCosineLR", "WarmupStepWithFixedGammaLR")


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def solver_errors(get: Callable[[str], object], world_size: int = 1, prefix: str = "") -> list[str]:
    """Messages for training-schedule values that cannot train (or would crash deep inside
    detectron2). ``get(key)`` returns a key's value; ``prefix`` is put before the key names in the
    messages (the PHASE1 block). Pure checks on values."""
    errors = []

    def need(key: str, ok: Callable[[object], bool], what: str) -> None:
        value = get(key)
        if not (_is_number(value) and ok(value)):
            errors.append(f"{prefix}{key}={value!r}: {what}.")

    need("SOLVER.MAX_ITER", lambda v: v > 0 and v == int(v), "the number of training iterations must be a positive integer")
    need("SOLVER.BASE_LR", lambda v: v > 0, "the learning rate must be positive (e.g. 0.02 for SGD at 16 images per batch)")
    need("SOLVER.BASE_LR_END", lambda v: v >= 0, "the final learning rate cannot be negative")
    need("SOLVER.MOMENTUM", lambda v: v >= 0, "the momentum cannot be negative (0.9 is usual)")
    need("SOLVER.WEIGHT_DECAY", lambda v: v >= 0, "weight decay cannot be negative")
    need("SOLVER.WEIGHT_DECAY_NORM", lambda v: v >= 0, "weight decay cannot be negative")
    need("SOLVER.BIAS_LR_FACTOR", lambda v: v > 0, "the bias LR factor must be positive")
    need("SOLVER.GAMMA", lambda v: v > 0, "the LR decay factor must be positive (0.1 is usual)")
    need("SOLVER.WARMUP_ITERS", lambda v: v >= 0 and v == int(v), "warm-up iterations must be 0 or a positive integer")
    need("SOLVER.WARMUP_FACTOR", lambda v: 0 <= v <= 1, "the warm-up starting factor must be between 0 and 1")
    need("SOLVER.CHECKPOINT_PERIOD", lambda v: v > 0 and v == int(v),
         "checkpoints are saved every this many iterations: use a positive integer (a large one to save only the final model)")
    need("SCRATCHDET.CHECKPOINT.MAX_TO_KEEP", lambda v: v >= 0 and v == int(v),
         "use 0 (keep every periodic checkpoint) or how many of the newest to keep, e.g. 3")
    need("SOLVER.REFERENCE_WORLD_SIZE", lambda v: v >= 0 and v == int(v), "use 0 (no automatic scaling) or a number of processes")
    need("TEST.EVAL_PERIOD", lambda v: v >= 0 and v == int(v), "use 0 (evaluate only at the end) or a positive number of iterations")
    need("DATALOADER.NUM_WORKERS", lambda v: v >= 0 and v == int(v), "use 0 (load in the main process) or a positive number of workers")
    errors += epoch_errors(get, prefix)
    if get("SCRATCHDET.EMA.ENABLED") and get("TEST.PRECISE_BN.ENABLED"):
        errors.append(f"{prefix}TEST.PRECISE_BN.ENABLED with SCRATCHDET.EMA.ENABLED: precise BN would re-estimate "
                      "the trained model's statistics, but evaluation and checkpoints use the average's; turn one off.")
    if get("SCRATCHDET.EMA.ENABLED"):
        need("SCRATCHDET.EMA.DECAY", lambda v: 0 <= v < 1, "the EMA decay must be in [0, 1), e.g. 0.9998")
        need("SCRATCHDET.EMA.WARMUP_ITERS", lambda v: v >= 0,
             "the decay's warm-up is a number of iterations, 0 (none) or more, e.g. MAX_ITER / 5")
    need("SCRATCHDET.EARLY_STOP.PATIENCE", lambda v: v >= 0 and v == int(v),
         "the patience is a number of evaluations without improvement, 0 (off) or more, e.g. 3")
    need("SCRATCHDET.EARLY_STOP.MIN_DELTA", lambda v: v >= 0, "the smallest improvement cannot be negative")
    need("SCRATCHDET.TIME_BUDGET.SECONDS", lambda v: v >= 0 and v == int(v), "a whole number of seconds, 0 (no time budget) or more")
    if get("SCRATCHDET.TIME_BUDGET.SECONDS"):
        need("SCRATCHDET.TIME_BUDGET.ADJUST_PERIOD", lambda v: v >= 1 and v == int(v),
             "the re-estimates of the remaining iterations come every this many steps: a positive integer, e.g. 10")
        need("SCRATCHDET.TIME_BUDGET.MAX_CHANGE", lambda v: 0 <= v <= 1,
             "the largest move of SOLVER.MAX_ITER, as a share of it: between 0 and 1, e.g. 0.5")
    if get("SCRATCHDET.EARLY_STOP.PATIENCE") and (get("TEST.EVAL_PERIOD") == 0 or not get("SCRATCHDET.BEST_CHECKPOINT.METRIC")):
        errors.append(f"{prefix}SCRATCHDET.EARLY_STOP.PATIENCE={get('SCRATCHDET.EARLY_STOP.PATIENCE')} needs "
                      "validation during training: set TEST.EVAL_PERIOD > 0 and SCRATCHDET.BEST_CHECKPOINT.METRIC "
                      "(e.g. bbox/AP).")
    wd_bias = get("SOLVER.WEIGHT_DECAY_BIAS")
    if wd_bias is not None and not (_is_number(wd_bias) and wd_bias >= 0):
        errors.append(f"{prefix}SOLVER.WEIGHT_DECAY_BIAS={wd_bias!r}: use None (same as SOLVER.WEIGHT_DECAY) or a value >= 0.")
    ims = get("SOLVER.IMS_PER_BATCH")
    if not (_is_number(ims) and ims > 0 and ims == int(ims)):
        errors.append(f"{prefix}SOLVER.IMS_PER_BATCH={ims!r}: the number of images per batch (all processes together) "
                      "must be a positive integer.")
    elif ims % world_size:
        errors.append(f"{prefix}SOLVER.IMS_PER_BATCH={ims} is not divisible by the {world_size} training processes: "
                      f"use a multiple of {world_size} (each process takes an equal share).")
    steps = get("SOLVER.STEPS")
    if not isinstance(steps, (list, tuple)) or not all(_is_number(s) and s >= 0 for s in steps):
        errors.append(f"{prefix}SOLVER.STEPS={steps!r}: a tuple of iterations at which the LR decays, e.g. (30000, 40000).")
    elif list(steps) != sorted(set(steps)):
        errors.append(f"{prefix}SOLVER.STEPS={tuple(steps)}: the iterations must be increasing, e.g. {tuple(sorted(set(steps)))}.")
    name = get("SOLVER.LR_SCHEDULER_NAME")
    if name not in LR_SCHEDULERS:
        errors.append(f"{prefix}SOLVER.LR_SCHEDULER_NAME={name!r}: use one of {', '.join(LR_SCHEDULERS)}.")
    method = get("SOLVER.WARMUP_METHOD")
    if method not in ("linear", "constant"):
        errors.append(f"{prefix}SOLVER.WARMUP_METHOD={method!r}: use 'linear' or 'constant'.")
    if get("SOLVER.CLIP_GRADIENTS.ENABLED"):
        need("SOLVER.CLIP_GRADIENTS.CLIP_VALUE", lambda v: v > 0, "the clipping threshold must be positive")
        clip_type = get("SOLVER.CLIP_GRADIENTS.CLIP_TYPE")
        if clip_type not in ("value", "norm", "full_model"):  # full_model: scratchdet.solver
            errors.append(f"{prefix}SOLVER.CLIP_GRADIENTS.CLIP_TYPE={clip_type!r}: use 'value', 'norm' or 'full_model'.")
    return errors


def epoch_errors(get: Callable[[str], object], prefix: str = "") -> list[str]:
    """Messages for a schedule in epochs (SOLVER.MAX_EPOCHS / STEPS_EPOCHS) that cannot be converted."""
    epochs, steps = get("SOLVER.MAX_EPOCHS"), get("SOLVER.STEPS_EPOCHS")
    if not (_is_number(epochs) and epochs >= 0):
        return [f"{prefix}SOLVER.MAX_EPOCHS={epochs!r}: a number of epochs, 0 (use SOLVER.MAX_ITER) or more."]
    if not isinstance(steps, (list, tuple)) or not all(_is_number(e) for e in steps):
        return [f"{prefix}SOLVER.STEPS_EPOCHS={steps!r}: a tuple of epochs, e.g. (9, 11)."]
    if steps and not epochs:
        return [f"{prefix}SOLVER.STEPS_EPOCHS={tuple(steps)} needs SOLVER.MAX_EPOCHS (or give SOLVER.STEPS in iterations)."]
    if list(steps) != sorted(set(steps)) or any(e <= 0 or e >= epochs for e in steps):
        return [f"{prefix}SOLVER.STEPS_EPOCHS={tuple(steps)}: increasing epochs between 0 and SOLVER.MAX_EPOCHS "
                f"({epochs}), e.g. ({round(epochs * 0.75)}, {round(epochs * 0.9)})."]
    return []


def _phase1_getter(cfg: CfgNode) -> Callable[[str], object]:
    """A key's value in phase 1: the PHASE1 block's when it sets the key, else the config's."""
    def get(key: str) -> object:
        node = cfg.SCRATCHDET.PHASE1
        for part in key.split("."):
            if not isinstance(node, CfgNode) or part not in node:
                return get_key(cfg, key)
            node = node[part]
        return node

    return get


def schedule_errors(cfg: CfgNode, world_size: int = 1) -> list[str]:
    """:func:`solver_errors` of the config, and of phase 1 when it runs (keys named in the block)."""
    errors = solver_errors(lambda key: get_key(cfg, key), world_size)
    p1 = cfg.SCRATCHDET.PHASE1
    if p1.get("ENABLED", False) and cfg.SCRATCHDET.RUN_PHASES != "finetune":
        # Only the keys the block sets: the others were checked above, under their own names.
        own = [e for e in solver_errors(_phase1_getter(cfg), world_size, PHASE1_BLOCK)
               if has_key(p1, e[len(PHASE1_BLOCK):].split("=")[0])]
        errors += own
    return errors


def config_errors(cfg: CfgNode, world_size: int = 1, training: bool = True) -> list[str]:
    """Messages for every combination of ``cfg`` that cannot train or run (empty when it is
    valid), naming the keys to change. ``cfg`` has its norm policy resolved (it is as loaded, or
    a phase's config); the engine's set-up step adds the checks that build part of the model.

    Args:
        world_size: number of training processes (SyncBN needs more than one).
        training: eval-only runs skip the checks that only matter for training.
    """
    errors = norm_policy_errors(cfg)
    errors += [] if errors else unapplied_norm_policy_errors(cfg)
    errors += freeze_errors(cfg)
    for norm_key, ch_key, channels in _channels_under_norm(cfg):
        if get_key(cfg, norm_key) == "GN" and channels % GN_GROUPS != 0:
            errors.append(
                f"{norm_key}='GN' normalises {channels} channels ({ch_key}), which is not divisible "
                f"by GroupNorm's {GN_GROUPS} groups: use a multiple of {GN_GROUPS} for {ch_key}, "
                f"or another norm (BN, SyncBN, naiveSyncBN_N)."
            )
    norm_keys = dict(iter_norm_keys(cfg))
    for key in EMPTY_BATCH_HEADS:
        if norm_keys.get(key) in SYNC_BN:
            errors.append(
                f"{key}='{norm_keys[key]}': this head can see an empty batch on one process, which "
                f"torch's SyncBatchNorm rejects; use 'naiveSyncBN_N' (synchronised, weighted by batch size)."
            )
    if training:
        errors += schedule_errors(cfg, world_size)
        sync = sorted(k for k, v in norm_keys.items() if v in SYNC_BN)
        if sync and world_size == 1:
            errors.append(
                f"{', '.join(sync)} = SyncBN but training runs in a single process, where there is "
                f"nothing to synchronise: run with --num-gpus N (N > 1), or use 'BN' (or 'naiveSyncBN', "
                f"which also works on one process)."
            )
        elif sync and cfg.MODEL.DEVICE == "cpu":
            errors.append(
                f"{', '.join(sync)} = SyncBN, which torch implements on GPU only, but MODEL.DEVICE='cpu': "
                f"use 'naiveSyncBN' (or 'naiveSyncBN_N' in heads), which synchronises over gloo on CPU."
            )
        compile_part = cfg.SCRATCHDET.CPU.COMPILE
        if compile_part not in COMPILE_PARTS:  # read by the Trainer only
            errors.append(f"SCRATCHDET.CPU.COMPILE={compile_part!r}: use '' (off) or 'backbone' "
                          "(torch.compile of model.backbone, its FPN included).")
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        errors.append("MODEL.DEVICE='cuda' but no CUDA device is available here: set MODEL.DEVICE cpu.")
    errors += self_training_errors(cfg)
    bad = cfg.SCRATCHDET.DATA.ON_BAD_ANNOTATION
    if bad not in ("error", "drop"):
        errors.append(f"SCRATCHDET.DATA.ON_BAD_ANNOTATION='{bad}': use 'error' or 'drop'.")
    return errors
