"""Matching a checkpoint's weights to a model (the hand-over of weights): every parameter or
buffer whose name (after a key map) and shape match is copied; one whose shape differs is
converted where a rule exists (e.g. ViT position terms resized to the new image size) and
otherwise left as initialised. The report says what was copied, converted, re-initialised and
left unused, and is logged as a table (and saved as json by the checkpointer)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from tabulate import tabulate

logger = logging.getLogger(__name__)

# A conversion rule: (key, source tensor, target tensor) -> converted tensor of the target's shape,
# or None when the rule does not apply.
ConversionRule = Callable[[str, torch.Tensor, torch.Tensor], "torch.Tensor | None"]
CONVERSION_RULES: list[tuple[str, ConversionRule]] = []


def register_conversion_rule(name: str, rule: ConversionRule) -> None:
    """Add a rule for tensors whose shape differs between the checkpoint and the model."""
    CONVERSION_RULES.append((name, rule))


def _register_builtin_rules() -> None:
    from .position_resize import position_term_rule

    register_conversion_rule("position terms resized", position_term_rule)


_register_builtin_rules()


def map_keys(state: dict[str, torch.Tensor], key_map: list) -> dict[str, torch.Tensor]:
    """``state`` with each key's first matching prefix ``src`` of ``key_map`` ([[src, dst], ...])
    replaced by ``dst``."""
    out = {}
    for k, v in state.items():
        for src, dst in key_map:
            if k.startswith(src):
                k = dst + k[len(src):]
                break
        out[k] = v
    return out


@torch.no_grad()
def match_state_dict(target: dict[str, torch.Tensor], source: dict[str, torch.Tensor],
                     key_map: list | None = None) -> tuple[dict[str, torch.Tensor], dict[str, list]]:
    """(state to load, report) for a model whose ``state_dict()`` is ``target``.

    The state holds the copied and converted tensors (in the target's dtype). The report is
    {"copied": [key, ...], "converted": [[key, rule], ...], "reinitialized": [[key, reason], ...],
    "unused": [key, ...]}.
    """
    source = map_keys(source, key_map or [])
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
    return new_state, report


def log_report(report: dict[str, list]) -> None:
    summary = [[k, len(v)] for k, v in report.items()]
    logger.info("Weights loaded:\n" + tabulate(summary, headers=["", "tensors"], tablefmt="pipe"))
    if report["reinitialized"]:
        logger.info("Re-initialised (kept at their fresh initialisation):\n"
                    + tabulate(report["reinitialized"][:200], headers=["key", "reason"], tablefmt="pipe"))
    if report["converted"]:
        logger.info("Converted:\n" + tabulate(report["converted"], headers=["key", "rule"], tablefmt="pipe"))
