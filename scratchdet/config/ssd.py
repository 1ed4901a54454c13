"""Config keys of the ScratchDet single-shot detector (META_ARCHITECTURE "ScratchDetSSD") and of
its SSD augmentation (mapper "SSDMapper")."""

from detectron2.config import CfgNode as CN


def add_ssd_config(cfg: CN) -> None:
    """Add ``MODEL.SSD.*`` and ``INPUT.SSD.*`` (in place)."""
    _C = cfg
    _C.MODEL.SSD = CN()
    # Number of object classes (without background, which the softmax adds as the last class).
    _C.MODEL.SSD.NUM_CLASSES = 80
    # Side (pixels) of the square input: the mapper resizes every image to IMAGE_SIZE x IMAGE_SIZE
    # (300 or 512 in the paper) and the model pads any smaller image up to it.
    _C.MODEL.SSD.IMAGE_SIZE = 300
    # Backbone features (MODEL.BACKBONE.NAME's outputs) used as the first detection levels, from
    # high to low resolution. Root-ResNet at 300 px: res4 (38x38) and res5 (19x19).
    _C.MODEL.SSD.IN_FEATURES = ["res4", "res5"]
    # Output channels of the extra residual layers, one layer and one detection level each, built
    # on the last IN_FEATURES map. Each halves the map (3x3 stride 2); a 3x3 map becomes 1x1.
    # Four at 300 px: 19 -> 10, 5, 3, 1 (six levels with res4, res5).
    # The official ScratchDet code uses 128 for all of them (its BasicBlocks after res5).
    _C.MODEL.SSD.EXTRA_CHANNELS = [128, 128, 128, 128]
    # Shortcut of the extra residual layers: "strided" (the official code's stride-2 1x1 conv -
    # norm, a ResNet BasicBlock's) or "avgpool" (average pooling to the output size, then 1x1
    # conv - norm, as ResNet-D).
    _C.MODEL.SSD.EXTRA_SHORTCUT = "strided"
    # Default-box scales as fractions of IMAGE_SIZE, one per level plus one: level k has square
    # boxes of SCALES[k] and sqrt(SCALES[k] * SCALES[k + 1]) (SSD's min/max sizes). These are
    # SSD300's VOC sizes (30, 60, 111, 162, 213, 264, 315 px).
    _C.MODEL.SSD.SCALES = [0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05]
    # Aspect ratios r >= 1 per level (one list per level, or one list for all); each adds boxes of
    # ratio r and 1 / r to the two square ones: [2] gives 4 boxes per position, [2, 3] gives 6.
    _C.MODEL.SSD.ASPECT_RATIOS = [[2.0], [2.0, 3.0], [2.0, 3.0], [2.0, 3.0], [2.0], [2.0]]
    # Norm after the classification and box prediction convs of every level: "BN" is ScratchDet's
    # "BN in the head" (Caffe SSD's use_batchnorm); "" for no norm (the "BN in backbone only"
    # ablation). SCRATCHDET.NORM.ALL sets it too. The extra layers use MODEL.RESNETS.NORM.
    _C.MODEL.SSD.HEAD_NORM = "BN"
    # A default box is matched to the ground-truth box it overlaps most when their IoU is at least
    # this; every ground-truth box is also matched to its best default box.
    _C.MODEL.SSD.IOU_THRESHOLD = 0.5
    # Hard-negative mining: per image, the unmatched default boxes with the highest background
    # loss are kept, NEG_POS_RATIO times as many as the matched ones (at least NEG_POS_RATIO).
    _C.MODEL.SSD.NEG_POS_RATIO = 3.0
    # Weights (dx, dy, dw, dh) of the box encoding: SSD's variances 0.1, 0.2 are 10, 10, 5, 5.
    _C.MODEL.SSD.BBOX_REG_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
    # Beta of the smooth-L1 box loss (SSD: 1.0).
    _C.MODEL.SSD.SMOOTH_L1_BETA = 1.0
    # Test time: detections scoring below this are dropped before NMS.
    _C.MODEL.SSD.SCORE_THRESH_TEST = 0.01
    # Test time: at most this many default boxes per class enter the per-class NMS.
    _C.MODEL.SSD.TOPK_CANDIDATES_TEST = 400
    # Test time: IoU threshold of the per-class NMS (TEST.DETECTIONS_PER_IMAGE are kept).
    _C.MODEL.SSD.NMS_THRESH_TEST = 0.45

    _C.INPUT.SSD = CN()
    # Probability of each photometric distortion (brightness, contrast, saturation, hue), 0 to
    # disable them.
    _C.INPUT.SSD.PHOTOMETRIC_PROB = 0.5
    # (min, max) brightness factor (about SSD's +-32 grey levels, as a factor).
    _C.INPUT.SSD.BRIGHTNESS = (0.875, 1.125)
    # (min, max) contrast factor.
    _C.INPUT.SSD.CONTRAST = (0.5, 1.5)
    # (min, max) saturation factor.
    _C.INPUT.SSD.SATURATION = (0.5, 1.5)
    # Largest hue shift, as a fraction of a turn (0.05 = 18 degrees, as in SSD).
    _C.INPUT.SSD.HUE = 0.05
    # Zoom-out probability: the image is placed in a larger canvas filled with MODEL.PIXEL_MEAN
    # (zero after normalisation). 0 disables it.
    _C.INPUT.SSD.EXPAND_PROB = 0.5
    # Largest zoom-out: the canvas side is up to this many times the image side.
    _C.INPUT.SSD.EXPAND_MAX_RATIO = 4.0
    # Min-IoU random crop: the crop must overlap a ground-truth box by at least one of these IoUs
    # (drawn at random, along with "no crop" and "any crop"); boxes whose centres fall outside
    # the crop are dropped. Empty to disable the crop.
    _C.INPUT.SSD.CROP_MIN_IOUS = (0.1, 0.3, 0.5, 0.7, 0.9)
    # Smallest crop side as a fraction of the image side (the crop's aspect ratio stays in 1/2..2).
    _C.INPUT.SSD.CROP_MIN_SCALE = 0.3
