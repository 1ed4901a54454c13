"""The freezing vocabulary, its key and its checks: detectron2's MODEL.BACKBONE.FREEZE_AT for the
stem and first ResNet stages, SCRATCHDET.FREEZE for whole parts ("backbone", "backbone+neck"), for
every model (DEYO's stage 2 included). Replaced keys and combinations that contradict each other
get one message naming the key to use."""

from __future__ import annotations

from detectron2.config import CfgNode

FREEZE_CHOICES = ("", "backbone", "backbone+neck")


def add_freeze_config(cfg: CfgNode) -> None:
    """Add ``SCRATCHDET.FREEZE`` (in place)."""
    _C = cfg
    # Part of the model frozen for training (weights and BN statistics, BN becoming FrozenBN):
    # "" (nothing), "backbone" (the bottom-up network) or "backbone+neck" (backbone and FPN).
    # To freeze only the stem and first ResNet stages use detectron2's MODEL.BACKBONE.FREEZE_AT.
    # In a two-phase run it applies to phase 2 (set SCRATCHDET.PHASE1.SCRATCHDET.FREEZE for phase 1).
    _C.SCRATCHDET.FREEZE = ""


def _replacement(value: str) -> str:
    if value.startswith("stages:"):
        return f"MODEL.BACKBONE.FREEZE_AT {value.split(':', 1)[1]}"
    return f"SCRATCHDET.FREEZE {value!r}"


def freeze_errors(cfg: CfgNode) -> list[str]:
    """Messages for replaced freezing and hand-over keys and for freezing keys that contradict each other."""
    errors = []
    handover = cfg.SCRATCHDET.HANDOVER
    if handover.SOURCE:
        errors.append(
            f"SCRATCHDET.HANDOVER.SOURCE={handover.SOURCE!r} is replaced by MODEL.WEIGHTS: set MODEL.WEIGHTS "
            f"{handover.SOURCE} (any checkpoint there gets the key map, conversions, report and BN re-estimation)."
        )
    if handover.FREEZE:
        errors.append(f"SCRATCHDET.HANDOVER.FREEZE={handover.FREEZE!r} is replaced: set "
                      f"{_replacement(handover.FREEZE)} instead.")
    # None (its default) is "not set": any True or False is refused.
    if cfg.SCRATCHDET.DEYO.FREEZE_BACKBONE is not None:
        errors.append(f"SCRATCHDET.DEYO.FREEZE_BACKBONE={cfg.SCRATCHDET.DEYO.FREEZE_BACKBONE!r} is replaced: set "
                      "SCRATCHDET.FREEZE 'backbone+neck' (True) or '' (False) instead.")
    freeze = cfg.SCRATCHDET.FREEZE
    if freeze not in FREEZE_CHOICES:
        hint = f" (for the first stages: {_replacement(freeze)})" if str(freeze).startswith("stages:") else ""
        errors.append(f"SCRATCHDET.FREEZE={freeze!r}: use one of {', '.join(repr(c) for c in FREEZE_CHOICES)}{hint}.")
    elif freeze and cfg.MODEL.BACKBONE.FREEZE_AT > 0:
        errors.append(
            f"SCRATCHDET.FREEZE={freeze!r} freezes the whole backbone but MODEL.BACKBONE.FREEZE_AT="
            f"{cfg.MODEL.BACKBONE.FREEZE_AT} trains the stages after it: set MODEL.BACKBONE.FREEZE_AT 0, "
            "or SCRATCHDET.FREEZE '' to freeze only the first stages."
        )
    return errors
