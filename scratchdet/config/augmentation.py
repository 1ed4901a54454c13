"""Config keys of training-time augmentation (scratchdet.data.transforms, used by the mapper
"AugmentedDatasetMapper"): a geometric policy by name plus composable flags."""

from detectron2.config import CfgNode as CN


def add_augmentation_config(cfg: CN) -> None:
    """Add the SCRATCHDET.AUG keys (in place)."""
    _C = cfg
    _C.SCRATCHDET.AUG = CN()
    # Geometric policy of the training images: "default" (detectron2's INPUT.MIN_SIZE_TRAIN /
    # MAX_SIZE_TRAIN resize and INPUT.CROP), "multiscale" (shortest edge sampled in
    # MULTISCALE.SCALE_RANGE times INPUT.MIN_SIZE_TEST) or "lsj" (large-scale jitter).
    # Every policy ends with detectron2's flip of INPUT.RANDOM_FLIP.
    _C.SCRATCHDET.AUG.POLICY = "default"
    # Value of padded pixels (LSJ padding, Mosaic canvas).
    _C.SCRATCHDET.AUG.PAD_VALUE = 128.0
    # "default" policy: after the resize (and flip), train on a random square window of this side
    # (pixels of the resized image; images smaller than it are left whole). Unlike detectron2's
    # INPUT.CROP (cut before the resize, then resized up) objects keep their test-time scale and a
    # step costs the window's pixels. 0 disables it.
    _C.SCRATCHDET.AUG.CROP_AFTER_RESIZE = 0

    _C.SCRATCHDET.AUG.MULTISCALE = CN()
    # (min, max) factor of INPUT.MIN_SIZE_TEST from which the training shortest edge is drawn
    # uniformly; (0.8, 1.0) at test size 800 is detectron2's 640-800 multi-scale training.
    _C.SCRATCHDET.AUG.MULTISCALE.SCALE_RANGE = (0.8, 1.0)

    _C.SCRATCHDET.AUG.LSJ = CN()
    # Side of the square LSJ output (pixels): the image is rescaled to fit IMAGE_SIZE * s,
    # then randomly cropped and padded to IMAGE_SIZE x IMAGE_SIZE.
    _C.SCRATCHDET.AUG.LSJ.IMAGE_SIZE = 1024
    # (min, max) of the random scale s (detectron2's LSJ baselines: 0.1-2.0).
    _C.SCRATCHDET.AUG.LSJ.SCALE_RANGE = (0.1, 2.0)

    _C.SCRATCHDET.AUG.PHOTOMETRIC = CN()
    # Random brightness, contrast, saturation and hue on every training image.
    _C.SCRATCHDET.AUG.PHOTOMETRIC.ENABLED = False
    # (min, max) intensity of each jitter; 1 leaves the image unchanged.
    _C.SCRATCHDET.AUG.PHOTOMETRIC.BRIGHTNESS = (0.8, 1.2)
    _C.SCRATCHDET.AUG.PHOTOMETRIC.CONTRAST = (0.8, 1.2)
    _C.SCRATCHDET.AUG.PHOTOMETRIC.SATURATION = (0.8, 1.2)
    # Hue is shifted by U(-HUE, HUE) of a full turn (0.5 = 180 degrees; 0 disables it).
    _C.SCRATCHDET.AUG.PHOTOMETRIC.HUE = 0.05

    # Flip training images vertically with probability 0.5 (overhead, microscopy imagery).
    _C.SCRATCHDET.AUG.VFLIP = False
    # Rotate training images by k * 90 degrees, k uniform in {0, 1, 2, 3} (exact, no interpolation).
    _C.SCRATCHDET.AUG.ROT90 = False

    _C.SCRATCHDET.AUG.COPY_PASTE = CN()
    # Copy-Paste (Ghiasi et al. 2021): paste a random subset of another training image's
    # instances (cut by their mask, or by their box on box-only data) onto the image.
    _C.SCRATCHDET.AUG.COPY_PASTE.ENABLED = False
    # Probability that an image gets pasted instances.
    _C.SCRATCHDET.AUG.COPY_PASTE.PROB = 1.0
    # (min, max) of the random scale of the pasted image (after its own augmentation).
    _C.SCRATCHDET.AUG.COPY_PASTE.SCALE_RANGE = (0.5, 1.5)
    # An instance of the image whose visible area falls below this fraction of its area before
    # pasting is dropped (fully occluded ones always are).
    _C.SCRATCHDET.AUG.COPY_PASTE.MIN_VISIBLE_FRACTION = 0.1

    _C.SCRATCHDET.AUG.MOSAIC = CN()
    # Mosaic (YOLOv4): four training images in one canvas, before the geometric policy.
    _C.SCRATCHDET.AUG.MOSAIC.ENABLED = False
    # Probability that an image becomes a mosaic.
    _C.SCRATCHDET.AUG.MOSAIC.PROB = 1.0
    # Each image is resized so that its longer side is SIZE (pixels) and the canvas is
    # 2 SIZE x 2 SIZE; 0: the longer side of the image being mapped.
    _C.SCRATCHDET.AUG.MOSAIC.SIZE = 0
    # The four images meet at a point drawn uniformly in (min, max) * SIZE along each axis.
    _C.SCRATCHDET.AUG.MOSAIC.CENTER_RANGE = (0.5, 1.5)
