"""Training hooks selected by name from the config (SCRATCHDET.HOOKS), so that a method's hooks
(ERF refresh, phase hand-over, best checkpoint, ...) plug into the one Trainer without code."""

from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.engine import HookBase
from detectron2.utils.registry import Registry

from ...config.errors import ConfigError

HOOK_REGISTRY = Registry("SCRATCHDET_HOOK")
HOOK_REGISTRY.__doc__ = "Training hooks, built as cls(cfg); the trainer is set on them when registered."


def build_hooks_from_config(cfg: CfgNode) -> list[HookBase]:
    hooks = []
    for name in cfg.SCRATCHDET.HOOKS:
        if name not in HOOK_REGISTRY:
            known = ", ".join(sorted(k for k, _ in HOOK_REGISTRY))
            raise ConfigError(f"SCRATCHDET.HOOKS: '{name}' is not a registered hook. Known hooks: {known}.")
        hooks.append(HOOK_REGISTRY.get(name)(cfg))
    return hooks
