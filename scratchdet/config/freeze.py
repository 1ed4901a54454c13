"""The freezing vocabulary, checked: detectron2's MODEL.BACKBONE.FREEZE_AT for the stem and first
ResNet stages, SCRATCHDET.FREEZE for whole parts ("backbone", "backbone+neck"). Replaced keys
and combinations that contradict each other get one message naming the key to use."""

from __future__ import annotations

from detectron2.config import CfgNode

FREEZE_CHOICES = ("", "backbone", "backbone+neck")


def _replacement(value: str) -> str:
    if value.startswith("stages:"):
        return f"MODEL.BACKBONE.FREEZE_AT {value.split(':', 1)[1]}"
    return f"SCRATCHDET.FREEZE {value!r}"


def freeze_errors(cfg: CfgNode) -> list[str]:
    """Messages for replaced hand-over keys and for freezing keys that contradict each other."""
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
    if freeze and cfg.MODEL.META_ARCHITECTURE == "DEYODetector" and not cfg.SCRATCHDET.DEYO.FREEZE_BACKBONE:
        errors.append(
            f"SCRATCHDET.FREEZE={freeze!r} freezes the backbone but SCRATCHDET.DEYO.FREEZE_BACKBONE=False "
            "asks DEYO to train it: set one of them."
        )
    return errors
