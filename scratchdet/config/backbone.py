"""Config keys of the Root-ResNet builders (scratchdet.modeling.backbone.root_resnet)."""

from detectron2.config import CfgNode as CN


def add_backbone_config(cfg: CN) -> None:
    """Add the Root-ResNet keys to detectron2's MODEL.RESNETS and MODEL.FPN nodes (in place)."""
    _C = cfg
    # Stem of the build_root_resnet_* backbones: "root" (ScratchDet's three 3x3 stride-1
    # conv-norm-ReLU + 2x2 max-pool, stride 2), "basic" (ResNet's 7x7 conv + max-pool, stride 4),
    # or "" for "root". detectron2's build_resnet_* builders always use "basic".
    # (Kept when already defined, e.g. by DeepLab's add_deeplab_config.)
    if "STEM_TYPE" not in _C.MODEL.RESNETS:
        _C.MODEL.RESNETS.STEM_TYPE = ""
    # Input of the FPN top block of the build_*root_resnet_fpn_backbone builders: "" for the
    # default (the last FPN level for max-pool levels, the backbone feature under it, e.g. res5,
    # for RetinaNet's conv levels). Its stride must be the last FPN level's.
    _C.MODEL.FPN.TOP_BLOCK_IN_FEATURE = ""
    # Number of extra levels the top block adds above the last FPN level (root builders only):
    # -1 for the builder's default (1 max-pool level for FPN, 2 conv levels for RetinaNet);
    # e.g. 3 with FPN.IN_FEATURES [res4, res5] and a root stem gives RetinaNet's P3-P7.
    _C.MODEL.FPN.TOP_BLOCK_NUM_LEVELS = -1
