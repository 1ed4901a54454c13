"""The hand-over of weights from one phase to the next: every parameter or buffer whose name
(after KEY_MAP) and shape match is copied; one whose shape differs is converted where a rule
exists (e.g. position terms resized to the new image size) and otherwise left as initialised;
what was copied, converted and re-initialised is logged as a table and saved as json."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import torch
from tabulate import tabulate
from torch import nn

from ..io.atomic import atomic_write_json
from .checkpointer import CheckpointError, safe_torch_load, unsafe_checkpoint_message

logger = logging.getLogger(__name__)

# A conversion rule: (key, source tensor, target tensor) -> converted tensor of the target's shape,
# or None when the rule does not apply.
ConversionRule = Callable[[str, torch.Tensor, torch.Tensor], "torch.Tensor | None"]
CONVERSION_RULES: list[tuple[str, ConversionRule]] = []


def register_conversion_rule(name: str, rule: ConversionRule) -> None:
    """Add a rule for tensors whose shape differs between the phases."""
    CONVERSION_RULES.append((name, rule))


def _register_builtin_rules() -> None:
    from .position_resize import position_term_rule

    register_conversion_rule("position terms resized", position_term_rule)


_register_builtin_rules()


def load_source_state_dict(path: str, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint (detectron2/scratchdet .pth, or a bare state dict)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"Hand-over source not found: {path}. Set SCRATCHDET.HANDOVER.SOURCE (or "
                              "MODEL.WEIGHTS with SCRATCHDET.RUN_PHASES finetune) to a phase-1 checkpoint.")
    if path.endswith((".pkl", ".pyth")) and not allow_pickle:
        raise CheckpointError(unsafe_checkpoint_message(path, "is a pickle"))
    try:
        ckpt = safe_torch_load(path, allow_pickle)
    except CheckpointError:
        raise
    except Exception as e:  # torch raises several types for a truncated or foreign file
        raise CheckpointError(f"Cannot read hand-over source {path}: {e}") from e
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} holds no state dict of tensors (expected a 'model' entry).")
    return state


def map_keys(state: dict[str, torch.Tensor], key_map: list) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        for src, dst in key_map:
            if k.startswith(src):
                k = dst + k[len(src):]
                break
        out[k] = v
    return out


@torch.no_grad()
def hand_over(model: nn.Module, source: dict[str, torch.Tensor], key_map: list | None = None,
              report_file: str | None = None) -> dict[str, list]:
    """Copy ``source`` into ``model`` by name and shape (see module doc). Returns the report:
    {"copied": [...], "converted": [[key, rule], ...], "reinitialized": [[key, reason], ...],
    "unused": [...]}; raises :class:`CheckpointError` when nothing at all matches."""
    source = map_keys(source, key_map or [])
    target = model.state_dict()
    report: dict[str, list] = {"copied": [], "converted": [], "reinitialized": [], "unused": []}
    new_state = {}
    for key, dst in target.items():
        src = source.get(key)
        if src is None:
            report["reinitialized"].append([key, "not in source"])
            continue
        if src.shape == dst.shape:
            new_state[key] = src.to(dst.dtype)
            report["copied"].append(key)
            continue
        for name, rule in CONVERSION_RULES:
            converted = rule(key, src, dst)
            if converted is not None:
                new_state[key] = converted.to(dst.dtype)
                report["converted"].append([key, f"{name}: {tuple(src.shape)} -> {tuple(dst.shape)}"])
                break
        else:
            report["reinitialized"].append([key, f"shape {tuple(src.shape)} != {tuple(dst.shape)}"])
    report["unused"] = sorted(set(source) - set(target))
    if not report["copied"] and not report["converted"]:
        raise CheckpointError(
            "The hand-over matched no weight: the source's names are e.g. "
            f"{sorted(source)[:3]}, the model's {sorted(target)[:3]}. Map the prefixes with "
            "SCRATCHDET.HANDOVER.KEY_MAP, e.g. [['backbone.', 'backbone.bottom_up.']]."
        )
    model.load_state_dict(new_state, strict=False)
    summary = [[k, len(v)] for k, v in report.items()]
    logger.info("Hand-over of weights:\n" + tabulate(summary, headers=["", "tensors"], tablefmt="pipe"))
    if report["reinitialized"]:
        logger.info("Re-initialised (kept at their fresh initialisation):\n"
                    + tabulate(report["reinitialized"][:200], headers=["key", "reason"], tablefmt="pipe"))
    if report["converted"]:
        logger.info("Converted:\n" + tabulate(report["converted"], headers=["key", "rule"], tablefmt="pipe"))
    if report_file:
        atomic_write_json(report, report_file)
    return report
