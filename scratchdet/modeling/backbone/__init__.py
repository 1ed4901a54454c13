"""Backbones registered in detectron2's BACKBONE_REGISTRY (one import line per module)."""
from . import root_resnet  # noqa: F401
from . import vit_sfp  # noqa: F401
