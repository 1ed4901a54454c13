"""Building a config from a file and command-line opts, with messages for unknown keys."""

from __future__ import annotations

import difflib
import os

from detectron2.config import CfgNode, get_cfg

from .checks import ConfigError
from .defaults import add_scratchdet_config


def get_scratchdet_cfg() -> CfgNode:
    """detectron2's defaults plus scratchdet's keys."""
    cfg = get_cfg()
    add_scratchdet_config(cfg)
    return cfg


def _all_keys(cfg: CfgNode, prefix: str = "") -> list[str]:
    keys = []
    for k, v in cfg.items():
        keys.append(prefix + k)
        if isinstance(v, CfgNode):
            keys.extend(_all_keys(v, prefix + k + "."))
    return keys


def _unknown_key_error(cfg: CfgNode, err: Exception, source: str) -> ConfigError:
    # yacs says "Non-existent config key: X" (KeyError, from a file) or "Non-existent key: X"
    # (AssertionError, from opts).
    msg = str(err.args[0]) if err.args else str(err)
    if "Non-existent" not in msg:
        raise err
    key = msg.split(":")[-1].strip().strip("'\"")
    close = difflib.get_close_matches(key, _all_keys(cfg), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    return ConfigError(
        f"Unknown config key '{key}' in {source}.{hint} "
        "(scratchdet's keys are under SCRATCHDET.*; see scratchdet/config/defaults.py.)"
    )


def load_config_file(config_file: str, opts: list[str] | None = None, cfg: CfgNode | None = None) -> CfgNode:
    """Merge a yaml file (with ``_BASE_``) and ``KEY VALUE`` opts into scratchdet's defaults."""
    cfg = cfg if cfg is not None else get_scratchdet_cfg()
    if config_file:
        if not os.path.isfile(config_file):
            raise ConfigError(f"Config file not found: {config_file}")
        try:
            cfg.merge_from_file(config_file)
        except KeyError as e:
            raise _unknown_key_error(cfg, e, config_file) from None
    if opts:
        if len(opts) % 2:
            raise ConfigError(f"Command-line opts must be KEY VALUE pairs, got an odd number: {opts}")
        try:
            cfg.merge_from_list(list(opts))
        except (KeyError, AssertionError) as e:
            raise _unknown_key_error(cfg, e, "the command-line opts") from None
    # Resolve SCRATCHDET.NORM.ALL into the per-part norm keys, so that the dumped config.yaml,
    # the checks and the model all see the norms the model really gets.
    from ..modeling.norm_policy import apply_norm_policy

    return apply_norm_policy(cfg)
