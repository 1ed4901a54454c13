"""Dotted-key access to a config ("MODEL.FPN.NORM"), shared by the checks and the norm policy."""

from __future__ import annotations

from detectron2.config import CfgNode


def get_key(cfg: CfgNode, key: str):
    """The value at dotted ``key``; raises KeyError when a part is missing."""
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def has_key(cfg: CfgNode, key: str) -> bool:
    try:
        get_key(cfg, key)
    except (KeyError, AttributeError, TypeError):  # TypeError: a part below a plain value
        return False
    return True
