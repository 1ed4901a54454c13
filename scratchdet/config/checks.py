"""Config checks that turn bad combinations into one clear message naming the keys to change,
instead of a stack trace from deep inside torch."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from detectron2.config import CfgNode

from .errors import ConfigError
from .freeze import freeze_errors
from .keys import get_key
from .norm_policy import EMPTY_BATCH_HEADS, SYNC_BN, apply_norm_policy, norm_policy_errors

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


def check_config(cfg: CfgNode, world_size: int = 1, training: bool = True) -> None:
    """Raise :class:`ConfigError` for a combination that cannot train or run.

    The checks of the config alone; the engine adds those that build part of the model
    (``scratchdet.engine.setup.check_run_config``: feature names against the backbone).

    Args:
        world_size: number of training processes (SyncBN needs more than one).
        training: eval-only runs skip the checks that only matter for training.
    """
    raise_config_errors(config_errors(cfg, world_size, training))


def raise_config_errors(errors: list[str]) -> None:
    """One :class:`ConfigError` listing every message, if there is any."""
    if errors:
        raise ConfigError("Invalid config:\n  - " + "\n  - ".join(errors))


def config_errors(cfg: CfgNode, world_size: int = 1, training: bool = True) -> list[str]:
    """The messages :func:`check_config` raises (empty when the config is valid)."""
    errors = norm_policy_errors(cfg)
    # The norms the model will get (a no-op when set-up has resolved SCRATCHDET.NORM.ALL already).
    cfg = cfg if errors else apply_norm_policy(cfg)
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
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        errors.append("MODEL.DEVICE='cuda' but no CUDA device is available here: set MODEL.DEVICE cpu.")
    bad = cfg.SCRATCHDET.DATA.ON_BAD_ANNOTATION
    if bad not in ("error", "drop"):
        errors.append(f"SCRATCHDET.DATA.ON_BAD_ANNOTATION='{bad}': use 'error' or 'drop'.")
    return errors
