"""The checks of the set-up step (:mod:`.plan`), run once per phase: the config's own checks
plus those that build part of the model (feature names against the backbone's outputs)."""

from __future__ import annotations

from detectron2.config import CfgNode

from ...config.checks import config_errors
from ...config.errors import raise_config_errors
from .feature_checks import feature_errors


def check_run_config(cfg: CfgNode, world_size: int = 1, training: bool = True) -> None:
    """Raise one :class:`~scratchdet.config.ConfigError` listing every problem of ``cfg`` (a
    config whose norm policy was resolved as it was loaded, or as its phase's config was made)."""
    # A backbone that cannot be built (e.g. an unknown norm) skips the feature checks: its builder
    # reports the problem when the model is built.
    raise_config_errors(config_errors(cfg, world_size, training) + feature_errors(cfg))
