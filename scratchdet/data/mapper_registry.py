"""Dataset mappers selected by name from the config (SCRATCHDET.DATA.TRAIN_MAPPER / TEST_MAPPER).

A mapper class registered here is built as ``cls(cfg, is_train)``, which detectron2's
``@configurable`` mappers accept (their ``from_config`` reads the config). A mapper that draws
other images (Mosaic, Copy-Paste, jigsaw samples) takes the training dicts the trainer loaded as
``from_config(cfg, is_train, dataset_dicts=...)`` instead of loading them again."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from detectron2.config import CfgNode
from detectron2.utils.registry import Registry

from ..config.errors import ConfigError

MAPPER_REGISTRY = Registry("SCRATCHDET_MAPPER")
MAPPER_REGISTRY.__doc__ = "Dataset mappers, built as cls(cfg, is_train)."


def build_mapper(cfg: CfgNode, is_train: bool, dataset_dicts: list[dict] | None = None) -> Callable[[dict], dict]:
    """The configured mapper; ``dataset_dicts`` (the training set's checked dicts) go to mappers
    whose ``from_config`` takes them."""
    key = "SCRATCHDET.DATA.TRAIN_MAPPER" if is_train else "SCRATCHDET.DATA.TEST_MAPPER"
    name = cfg.SCRATCHDET.DATA.TRAIN_MAPPER if is_train else cfg.SCRATCHDET.DATA.TEST_MAPPER
    if name not in MAPPER_REGISTRY:
        known = ", ".join(sorted(k for k, _ in MAPPER_REGISTRY))
        raise ConfigError(f"{key}='{name}' is not a registered mapper. Known mappers: {known}.")
    cls = MAPPER_REGISTRY.get(name)
    from_config = getattr(cls, "from_config", None)
    if dataset_dicts is not None and from_config is not None and "dataset_dicts" in inspect.signature(from_config).parameters:
        return cls(cfg, is_train, dataset_dicts=dataset_dicts)
    return cls(cfg, is_train)
