"""Config keys for how dataset images of more than 8 bits per pixel are read."""

from detectron2.config import CfgNode as CN


def add_image_reading_config(cfg: CN) -> None:
    """Add the SCRATCHDET.DATA.HIGH_BIT_DEPTH* keys (SCRATCHDET.DATA must exist)."""
    _C = cfg
    # Single-channel images of more than 8 bits (16-bit PNG/TIFF, 32-bit or float TIFF, as from
    # microscopes and satellites) are scaled to 0-255 before the model sees them (8-bit images are
    # read unchanged; grayscale becomes three equal channels of INPUT.FORMAT):
    # "image_range": each image by its own range (see HIGH_BIT_DEPTH_PERCENTILES);
    # "fixed": 0 to 2**HIGH_BIT_DEPTH_BITS - 1 (float images: 0 to 1) is mapped to 0-255, the same
    #   for every image (keeps absolute intensities comparable between images);
    # "error": refuse such images with a message naming the file.
    _C.SCRATCHDET.DATA.HIGH_BIT_DEPTH = "image_range"
    # For "image_range": the low and high percentiles of each image's values mapped to 0 and 255.
    # (0.0, 100.0) is min-max; e.g. (0.5, 99.5) ignores a few hot or dead pixels.
    _C.SCRATCHDET.DATA.HIGH_BIT_DEPTH_PERCENTILES = (0.0, 100.0)
    # For "fixed": the number of significant bits of the images (12 for a 12-bit camera whose
    # images are stored as 16-bit files).
    _C.SCRATCHDET.DATA.HIGH_BIT_DEPTH_BITS = 16
