"""Checks run once when a run is set up: the config's own checks plus those that build part of
the model (feature names against the backbone's outputs)."""

from __future__ import annotations

from detectron2.config import CfgNode

from ..config.checks import config_errors, raise_config_errors
from ..config.norm_policy import norm_policy_errors
from .feature_checks import feature_errors


def check_run_config(cfg: CfgNode, world_size: int = 1, training: bool = True) -> None:
    """Raise one :class:`~scratchdet.config.ConfigError` listing every problem of ``cfg`` (a
    config whose derived values, e.g. the norm policy, were resolved at loading)."""
    errors = config_errors(cfg, world_size, training)
    if not norm_policy_errors(cfg):
        errors += feature_errors(cfg)
    raise_config_errors(errors)
