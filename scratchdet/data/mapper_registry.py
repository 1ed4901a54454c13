"""Dataset mappers selected by name from the config (SCRATCHDET.DATA.TRAIN_MAPPER / TEST_MAPPER).

A mapper class registered here is built as ``cls(cfg, is_train)``, which detectron2's
``@configurable`` mappers accept (their ``from_config`` reads the config)."""

from __future__ import annotations

from collections.abc import Callable

from detectron2.config import CfgNode
from detectron2.utils.registry import Registry

from ..config.errors import ConfigError

MAPPER_REGISTRY = Registry("SCRATCHDET_MAPPER")
MAPPER_REGISTRY.__doc__ = "Dataset mappers, built as cls(cfg, is_train)."


def build_mapper(cfg: CfgNode, is_train: bool) -> Callable[[dict], dict]:
    key = "SCRATCHDET.DATA.TRAIN_MAPPER" if is_train else "SCRATCHDET.DATA.TEST_MAPPER"
    name = cfg.SCRATCHDET.DATA.TRAIN_MAPPER if is_train else cfg.SCRATCHDET.DATA.TEST_MAPPER
    if name not in MAPPER_REGISTRY:
        known = ", ".join(sorted(k for k, _ in MAPPER_REGISTRY))
        raise ConfigError(f"{key}='{name}' is not a registered mapper. Known mappers: {known}.")
    return MAPPER_REGISTRY.get(name)(cfg, is_train)
