"""Building a config from a file and command-line opts, with messages for unknown keys."""

from __future__ import annotations

import difflib
import os

from detectron2.config import CfgNode, get_cfg

from .checks import ConfigError
from .defaults import add_scratchdet_config
from .keys import get_key, has_key
from .norm_policy import apply_norm_policy


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


PHASE1_PREFIX = "SCRATCHDET.PHASE1."


def _decode_new_keys(node: CfgNode) -> None:
    """Decode the values of keys that a new_allowed block (SCRATCHDET.PHASE1) took from a yaml
    file as yacs decodes known keys ("(400,)" -> (400,)), so that they have their real types."""
    for k, v in node.items():
        if isinstance(v, CfgNode):
            _decode_new_keys(v)
        else:
            node[k] = CfgNode._decode_cfg_value(v)


def _add_phase1_keys(cfg: CfgNode, keys: list[str]) -> None:
    """Let ``SCRATCHDET.PHASE1.<KEY>`` be set from the command line for any key of the config,
    even one the file's PHASE1 block does not mention: the block gets that key's default first
    (so its type is checked as usual)."""
    for key in keys:
        if not key.startswith(PHASE1_PREFIX):
            continue
        full = key[len(PHASE1_PREFIX):]
        if not has_key(cfg, full):
            continue  # reported as an unknown key by the merge
        sub, default = full.split("."), get_key(cfg, full)
        node = cfg.SCRATCHDET.PHASE1
        for part in sub[:-1]:
            if part not in node:
                node[part] = CfgNode(new_allowed=True)
            node = node[part]
        if sub[-1] not in node:
            node[sub[-1]] = default.clone() if isinstance(default, CfgNode) else default


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
        frozen = cfg.is_frozen()
        cfg.defrost()
        _decode_new_keys(cfg.SCRATCHDET.PHASE1)
        if frozen:
            cfg.freeze()
    if opts:
        flags = [o for o in opts[0::2] if str(o).startswith("--")]
        if flags:
            raise ConfigError(f"{flags[0]} stands among the KEY VALUE opts: put the options (--resume, "
                              "--eval-only, --num-gpus ...) before the first KEY VALUE pair.")
        if len(opts) % 2:
            raise ConfigError(f"Command-line opts must be KEY VALUE pairs, got an odd number: {opts}")
        _add_phase1_keys(cfg, opts[0::2])
        try:
            cfg.merge_from_list(list(opts))
        except (KeyError, AssertionError) as e:
            raise _unknown_key_error(cfg, e, "the command-line opts") from None
        except ValueError as e:  # yacs: a value of another type than the key's default
            raise ConfigError(f"{e} (in the command-line opts). Quote strings that look like numbers, "
                              "e.g. KEY \"'1'\".") from None
    # Resolve SCRATCHDET.NORM.ALL into the per-part norm keys (once, here), so that the dumped
    # config.yaml, the checks and the model all see the norms the model really gets.
    return apply_norm_policy(cfg)
