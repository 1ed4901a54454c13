"""Reading a number of classes that may be "0 = from the data" (SCRATCHDET.DEYO.NUM_CLASSES,
SCRATCHDET.JIGSAW.NUM_CLASSES): the set-up step (``scratchdet.engine.setup.plan``) writes the training
dataset's count into the config; models and mappers only read it here."""

from __future__ import annotations

from detectron2.config import CfgNode

from .errors import ConfigError
from .keys import get_key


def filled_num_classes(cfg: CfgNode, key: str) -> int:
    """The value of ``key``; :class:`ConfigError` while it is still 0 (the config was not set up)."""
    value = int(get_key(cfg, key))
    if value <= 0:
        raise ConfigError(f"{key} is 0 (from the data), which the set-up step fills in: train through "
                          "train_net.py / scratchdet.engine.train, resolve the config with "
                          f"scratchdet.engine.setup.plan.resolve_config, or set {key}.")
    return value
