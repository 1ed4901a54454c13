"""The config half of the norm policy: ``SCRATCHDET.NORM.ALL`` resolved into detectron2's
per-part norm keys (``MODEL.RESNETS.NORM``, ``MODEL.FPN.NORM``, ...) once, at set-up, so that the
model, the checks and the dumped config.yaml all read the norms the model really gets. The model
half (from-scratch initialisation) is ``scratchdet.modeling.norm_policy``."""

from __future__ import annotations

import logging

from detectron2.config import CfgNode

from .errors import raise_config_errors
from .keys import get_key, has_key

logger = logging.getLogger(__name__)

# Heads whose batch can be empty on one process (no proposal/instance left): torch's SyncBN
# rejects empty input, NaiveSyncBatchNorm with stats_mode "N" weighs by batch size and accepts it.
EMPTY_BATCH_HEADS = ("MODEL.ROI_BOX_HEAD.NORM", "MODEL.ROI_MASK_HEAD.NORM", "MODEL.ROI_KEYPOINT_HEAD.NORM")
# Values of detectron2's get_norm ("" is no norm).
NORMS = ("BN", "SyncBN", "nnSyncBN", "naiveSyncBN", "naiveSyncBN_N", "GN", "FrozenBN", "LN", "")
SYNC_BN = ("SyncBN", "nnSyncBN")
# Config keys set by SCRATCHDET.NORM.ALL -> whether that part can see an empty batch on one
# process (torch's SyncBatchNorm rejects it, so those parts get naiveSyncBN_N instead).
# Keys absent from a config are skipped (e.g. a user head's key in a config without its node).
NORM_KEYS: dict[str, bool] = {
    "MODEL.RESNETS.NORM": False,
    "MODEL.FPN.NORM": False,
    "MODEL.ROI_BOX_HEAD.NORM": True,
    "MODEL.ROI_MASK_HEAD.NORM": True,
    "MODEL.ROI_KEYPOINT_HEAD.NORM": True,
    "MODEL.RETINANET.NORM": False,
    "MODEL.SEM_SEG_HEAD.NORM": False,
    # scratchdet's own parts, whose keys the config layer defines (config/vit.py, config/ssd.py).
    "MODEL.SFP.NORM": False,  # the ViT backbone's simple feature pyramid (its LayerNorms stay)
    "MODEL.SSD.HEAD_NORM": False,  # ScratchDetSSD's prediction head
}
NORM_KEYS.update({k: True for k in EMPTY_BATCH_HEADS})
CONV_FILLS = ("", "msra")


def register_norm_key(key: str, empty_batch: bool = False) -> None:
    """Make ``SCRATCHDET.NORM.ALL`` set ``key`` too (e.g. a new head's ``MODEL.X.NORM``).

    The extension point for a user's own head, called by the user's code before set-up.
    scratchdet's own keys are declared in :data:`NORM_KEYS` instead: no scratchdet module calls
    this on import, so the table does not depend on which modules happen to be imported.

    Args:
        empty_batch: the part can see an empty batch (per-instance heads).
    """
    NORM_KEYS[key] = empty_batch


def norm_policy_errors(cfg: CfgNode) -> list[str]:
    """Messages for invalid SCRATCHDET.NORM / SCRATCHDET.INIT values."""
    errors = []
    norm = cfg.SCRATCHDET.NORM.ALL
    if norm is not None and norm not in NORMS:
        errors.append(
            f"SCRATCHDET.NORM.ALL={norm!r}: use one of {', '.join(repr(n) for n in NORMS)} ('' for no norm), "
            f"or None to keep the per-part keys (MODEL.RESNETS.NORM, MODEL.FPN.NORM, ...)."
        )
    fill = cfg.SCRATCHDET.INIT.CONV_FILL
    if fill not in CONV_FILLS:
        errors.append(f"SCRATCHDET.INIT.CONV_FILL={fill!r}: use 'msra', or '' to keep each layer's own init.")
    return errors


def _policy_targets(cfg: CfgNode) -> dict[str, str]:
    """The value SCRATCHDET.NORM.ALL gives each per-part norm key present in ``cfg``."""
    norm = cfg.SCRATCHDET.NORM.ALL
    if norm is None:
        return {}
    return {key: "naiveSyncBN_N" if empty_batch and norm in SYNC_BN else norm
            for key, empty_batch in NORM_KEYS.items() if has_key(cfg, key)}


def unapplied_norm_policy_errors(cfg: CfgNode) -> list[str]:
    """A SCRATCHDET.NORM.ALL the per-part keys do not follow: set on a config after it was loaded
    (the model would be built with the per-part keys, not with ALL)."""
    off = [f"{k}={get_key(cfg, k)!r}" for k, v in _policy_targets(cfg).items() if get_key(cfg, k) != v]
    if not off:
        return []
    return [f"SCRATCHDET.NORM.ALL={cfg.SCRATCHDET.NORM.ALL!r} is not applied ({', '.join(off[:3])}): set it in the "
            "config file or the command-line opts (load_config_file applies it), or pass the config through "
            "scratchdet.config.norm_policy.apply_norm_policy after changing it."]


def apply_norm_policy(cfg: CfgNode) -> CfgNode:
    """A copy of ``cfg`` whose per-part norm keys are set from ``SCRATCHDET.NORM.ALL``.

    Unset (None), the copy is unchanged. Otherwise every key of :data:`NORM_KEYS` present in
    the config gets ALL, except that parts which can see an empty batch get ``naiveSyncBN_N``
    where ALL is SyncBN (torch's SyncBatchNorm rejects empty input). Applying it twice gives the
    same config. Call it after merging files and opts, before building the model.
    """
    raise_config_errors(norm_policy_errors(cfg))
    out = cfg.clone()
    norm = cfg.SCRATCHDET.NORM.ALL
    if norm is None:
        return out
    frozen = out.is_frozen()
    out.defrost()
    changed = []
    for key, value in _policy_targets(out).items():
        *parents, leaf = key.split(".")
        node = get_key(out, ".".join(parents))
        if node[leaf] != value:
            changed.append(f"{key}: {node[leaf]!r} -> {value!r}")
            node[leaf] = value
    if changed:
        logger.info("SCRATCHDET.NORM.ALL=%r sets %s", norm, "; ".join(changed))
    if frozen:
        out.freeze()
    return out
