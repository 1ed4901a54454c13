"""Building a config from a file and command-line opts, with messages for unknown keys."""

from __future__ import annotations

import difflib
import os
import re

import yaml
from detectron2.config import CfgNode, get_cfg

from .defaults import add_scratchdet_config
from .errors import ConfigError
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


_TYPE_MISMATCH = re.compile(r"Type mismatch \((.+?) vs\. (.+?)\) with values \((.*) vs\. (.*)\) for config key: (\S+)$", re.S)


def _type_mismatch_error(err: ValueError, source: str) -> ConfigError:
    """yacs' "Type mismatch (<int> vs. <str>) with values (<whole default> vs. <value>) for config
    key: K" as one line naming the key, without dumping a whole sub-config as the value."""
    m = _TYPE_MISMATCH.search(str(err))
    if not m:
        return ConfigError(f"{err} (in {source}).")
    expected, got, _, value, key = m.groups()
    names = {t: re.sub(r"<class '(?:.*\.)?(\w+)'>", r"\1", t) for t in (expected, got)}
    value = value if len(value) <= 60 else value[:60] + "..."
    return ConfigError(f"Type mismatch for config key {key} in {source}: it takes a {names[expected]}, got a "
                       f"{names[got]} ({value}). Quote strings that look like numbers, e.g. KEY \"'1'\".")


def _config_file_error(path: str, problem: str) -> ConfigError:
    return ConfigError(f"Config file {path} {problem}")


# detectron2 reads a config with yaml.safe_load and, where that fails, with yaml.unsafe_load, which
# constructs !!python/... tags: arbitrary code. Such tags are refused unless this variable is 1.
UNSAFE_YAML_ENV = "SCRATCHDET_ALLOW_UNSAFE_YAML"


def _python_tag(node: yaml.Node) -> str | None:
    """The first tag of ``node``'s tree that only an unsafe loader constructs (``!!python/...``)."""
    if node.tag.startswith("tag:yaml.org,2002:python/"):
        return "!!" + node.tag[len("tag:yaml.org,2002:"):]
    children = node.value if isinstance(node, yaml.SequenceNode) else (
        [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
    for child in children:
        found = _python_tag(child)
        if found:
            return found
    return None


def _check_yaml_chain(config_file: str, seen: tuple[str, ...] = ()) -> None:
    """Read a config file and its ``_BASE_`` files as YAML *nodes* (nothing is constructed, so no
    tag runs) and raise :class:`ConfigError` naming the file for what detectron2 would turn into a
    stack trace: a missing ``_BASE_``, a binary or non-YAML file, a top level that is not a mapping,
    a ``_BASE_`` cycle."""
    real = os.path.realpath(config_file)
    if real in seen:
        chain = " -> ".join([*seen, real])
        raise _config_file_error(config_file, f"is its own _BASE_ ({chain}): remove the cycle.")
    try:
        with open(config_file, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise _config_file_error(config_file, f"cannot be read: {e.strerror}.") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _config_file_error(config_file, "is not a text file (binary content): give a YAML config "
                                              "(KEY: value lines).") from None
    if "\0" in text:
        raise _config_file_error(config_file, "is not a text file (binary content): give a YAML config.")
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise _config_file_error(config_file, f"is not valid YAML{where}: {problem}.") from None
    if node is None:
        raise _config_file_error(config_file, "is empty: a config is a YAML mapping of KEY: value.")
    if not isinstance(node, yaml.MappingNode):
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        raise _config_file_error(config_file, f"has {kind} at its top level: a config is a YAML mapping of "
                                              "KEY: value (e.g. SOLVER:\n  MAX_ITER: 100).")
    tag = _python_tag(node)
    if tag and os.environ.get(UNSAFE_YAML_ENV) != "1":
        raise _config_file_error(config_file, f"uses the YAML tag {tag}, which runs Python code when the file is "
                                              "read: refused. Write the value out (e.g. a list of numbers), or, "
                                              f"only for a file you trust, set the environment variable "
                                              f"{UNSAFE_YAML_ENV}=1.")
    for key, value in node.value:
        if key.value != "_BASE_":
            continue
        items = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for item in items:
            if not isinstance(item, yaml.ScalarNode) or not item.value:
                raise _config_file_error(config_file, "has a _BASE_ that is not a file name (or a list of them).")
            base = os.path.expanduser(item.value)
            if base.startswith(("http://", "https://")):
                continue
            if not os.path.isabs(base):  # detectron2 resolves _BASE_ relative to the file itself
                base = os.path.join(os.path.dirname(config_file), base)
            if not os.path.isfile(base):
                raise _config_file_error(config_file, f"has _BASE_: {item.value}, which does not exist "
                                                      f"(looked for {base}; a _BASE_ is relative to the file).")
            _check_yaml_chain(base, (*seen, real))


def _missing_values(cfg: CfgNode, opts: list[str]) -> ConfigError | None:
    """A key without its value in the middle of the opts shifts every pair after it
    ("SOLVER.MAX_ITER OUTPUT_DIR x"): name that key instead of reporting odd pairs."""
    for i in range(0, len(opts), 2):
        key = str(opts[i])
        if i + 1 == len(opts):
            return ConfigError(f"Command-line opts: {key} has no value (it is the last item). Opts are KEY VALUE "
                               "pairs, e.g. SOLVER.MAX_ITER 100.")
        value = str(opts[i + 1])
        if value.upper() == value and (has_key(cfg, value) or has_key(cfg, value.removeprefix(PHASE1_PREFIX))):
            return ConfigError(f"Command-line opts: {key} has no value (it is followed by the key {value}). "
                               "Opts are KEY VALUE pairs, e.g. SOLVER.MAX_ITER 100.")
    return None


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
        _check_yaml_chain(config_file)
        try:
            cfg.merge_from_file(config_file)
        except KeyError as e:
            raise _unknown_key_error(cfg, e, config_file) from None
        except ValueError as e:  # yacs: a value of another type than the key's default
            raise _type_mismatch_error(e, config_file) from None
        except AssertionError as e:  # fvcore: "Cannot inherit key 'X' from base!"
            raise ConfigError(f"Config file {config_file}: {e}") from None
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
        missing = _missing_values(cfg, list(opts))
        if missing is not None:
            raise missing
        _add_phase1_keys(cfg, opts[0::2])
        try:
            cfg.merge_from_list(list(opts))
        except (KeyError, AssertionError) as e:
            raise _unknown_key_error(cfg, e, "the command-line opts") from None
        except ValueError as e:  # yacs: a value of another type than the key's default
            raise _type_mismatch_error(e, "the command-line opts") from None
    # Resolve SCRATCHDET.NORM.ALL into the per-part norm keys (once, here), so that the dumped
    # config.yaml, the checks and the model all see the norms the model really gets.
    return apply_norm_policy(cfg)
