"""Parts of the ScratchDet single-shot detector (meta-architecture in meta_arch/scratchdet_ssd.py)."""

from .default_boxes import DefaultBoxGenerator, default_box_shapes
from .extra_layers import ExtraBlock, ExtraLayers
from .head import SSDHead, SSDLevelPredictor
from .loss import hard_negative_mask, ssd_losses, ssd_targets
from .matcher import BACKGROUND, match_default_boxes

__all__ = [
    "BACKGROUND",
    "DefaultBoxGenerator",
    "ExtraBlock",
    "ExtraLayers",
    "SSDHead",
    "SSDLevelPredictor",
    "default_box_shapes",
    "hard_negative_mask",
    "match_default_boxes",
    "ssd_losses",
    "ssd_targets",
]
