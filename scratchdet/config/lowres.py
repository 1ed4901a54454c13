"""Config keys of low-resolution pre-training (mapper "LowResPretrainMapper")."""

from detectron2.config import CfgNode as CN


def add_lowres_config(cfg: CN) -> None:
    """Add ``SCRATCHDET.LOWRES.*`` (in place)."""
    _C = cfg
    _C.SCRATCHDET.LOWRES = CN()
    # Side of the square training images of mapper "LowResPretrainMapper" (the paper: 448).
    _C.SCRATCHDET.LOWRES.IMAGE_SIZE = 448
    # (min, max) scale jitter: the image is resized to fit s * IMAGE_SIZE (the paper: 0.8-1.2).
    _C.SCRATCHDET.LOWRES.SCALE_RANGE = (0.8, 1.2)
