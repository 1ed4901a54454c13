"""Backbones registered in detectron2's BACKBONE_REGISTRY (one import line per module)."""
from . import root_resnet
from . import vit_sfp
