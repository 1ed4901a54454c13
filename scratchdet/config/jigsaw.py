"""Config keys of jigsaw (Montage) pre-training: sample extraction, canvas assembly, the dense
classifier's labels and the ERF refresh (projects/JigsawPretrain)."""

from detectron2.config import CfgNode as CN


def add_jigsaw_config(cfg: CN) -> None:
    """Add the SCRATCHDET.JIGSAW keys (in place)."""
    _C = cfg
    _C.SCRATCHDET.JIGSAW = CN()
    # Number of object classes; the background label is this number. 0: the length of
    # thing_classes of DATASETS.TRAIN[0].
    _C.SCRATCHDET.JIGSAW.NUM_CLASSES = 0
    # Seed of sample extraction (enlargement and negatives), independent of SEED so that every
    # process and run extracts the same samples.
    _C.SCRATCHDET.JIGSAW.SAMPLE_SEED = 0
    # Positives: a ground-truth box enlarged for context so that its width and height become at
    # most ENLARGE times the original (the paper: 2): each corner moves outward by
    # U(0, (ENLARGE - 1) / 2) times the box's side, then the box is clipped to the image. 1: none.
    _C.SCRATCHDET.JIGSAW.ENLARGE = 2.0
    # Ground-truth boxes narrower or lower than this (pixels) are not used as positives.
    _C.SCRATCHDET.JIGSAW.MIN_BOX_SIZE = 4
    # Training: each sample is rescaled by s ~ U(min, max) (the paper's addendum: 0.8-1.5) and
    # flipped horizontally with probability 0.5 before assembly, so that the classifier cannot
    # memorise the few samples of a small dataset pixel for pixel. (1.0, 1.0) disables the rescale.
    _C.SCRATCHDET.JIGSAW.SAMPLE_SCALE_RANGE = (0.8, 1.5)
    _C.SCRATCHDET.JIGSAW.SAMPLE_FLIP = True
    # Number of negatives (background boxes with IoU 0 against every annotated box) per positive
    # (the paper: positives:negatives = 10:1).
    _C.SCRATCHDET.JIGSAW.NEGATIVE_RATIO = 0.1
    # Side (pixels) of the square jigsaw canvas; samples are pasted at their native size.
    _C.SCRATCHDET.JIGSAW.CANVAS_SIZE = 448
    # The split of the 2x2 canvas follows the two square samples' sizes, clamped to
    # [MIN_CELL_FRACTION, 0.5] of the canvas side (so the top-left cell stays the smaller one).
    _C.SCRATCHDET.JIGSAW.MIN_CELL_FRACTION = 0.25
    # Labels of the classifier: "erf" (the paper's ERF-adaptive dense classification), or the
    # paper's two baselines: "global_mix" (features pooled over the canvas, one label mixed by cell
    # area, CutMix-like) or "block" (each cell's features pooled and classified with its label).
    _C.SCRATCHDET.JIGSAW.LABEL_MODE = "erf"
    # In "erf" mode, the smallest weight of a position's own cell in its soft label (the paper: 0.7).
    _C.SCRATCHDET.JIGSAW.TAU = 0.7
    # Backbone output the classifier reads; "" takes the one with the largest stride.
    _C.SCRATCHDET.JIGSAW.IN_FEATURE = ""
    # The ERFRefresh hook re-measures the ERF every this many iterations (the paper: 5000).
    _C.SCRATCHDET.JIGSAW.ERF_PERIOD = 5000
    # Number of the latest training canvases the ERF is averaged over.
    _C.SCRATCHDET.JIGSAW.ERF_NUM_IMAGES = 4
    # ERF maps are kept sum-pooled by this factor (memory: positions x (side / POOL)^2 floats);
    # cell shares are read from them by bilinear interpolation of their integral image.
    _C.SCRATCHDET.JIGSAW.ERF_POOL = 4
