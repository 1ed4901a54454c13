"""Config keys of the data: dataset mappers, datasets registered without code, annotation and
image checks, and how images of more than 8 bits are read."""

from detectron2.config import CfgNode as CN


def add_data_config(cfg: CN) -> None:
    """Add ``SCRATCHDET.DATA.*`` (in place); SCRATCHDET.DATA is created here, once."""
    _C = cfg
    _C.SCRATCHDET.DATA = CN()
    # Name, in scratchdet.data.MAPPER_REGISTRY, of the dataset mapper used for training.
    _C.SCRATCHDET.DATA.TRAIN_MAPPER = "DatasetMapper"
    # Name of the dataset mapper used for evaluation.
    _C.SCRATCHDET.DATA.TEST_MAPPER = "DatasetMapper"
    # COCO-json datasets to register without code: a list of [name, json_file, image_root].
    # Example on the command line: SCRATCHDET.DATA.COCO "[['mine_train','a/train.json','a/img']]"
    _C.SCRATCHDET.DATA.COCO = []
    # Deterministic train/val split of one annotated (COCO-json) dataset, by image: a list of
    # [source_name, train_name, val_name, val_fraction, seed], e.g.
    # SCRATCHDET.DATA.SPLIT "[['mine','mine_train','mine_val',0.2,0]]" DATASETS.TRAIN "('mine_train',)"
    _C.SCRATCHDET.DATA.SPLIT = []
    # VOC-XML datasets to register without code: a list of [name, voc_root, split, "cls1,cls2,..."]
    # (split is the name of a file in voc_root/ImageSets/Main/ without .txt).
    _C.SCRATCHDET.DATA.VOC = []
    # YOLO-format datasets (the Ultralytics layout) to register without code: a list of
    # [name, images_folder, names] with images in <root>/images/<split>, labels in
    # <root>/labels/<split>/*.txt ("class cx cy w h", normalised); names "a,b,c" or the data yaml
    # with its 'names'. Example: SCRATCHDET.DATA.YOLO "[['mine_train','data/images/train','data/data.yaml']]"
    _C.SCRATCHDET.DATA.YOLO = []
    # What to do with a bad annotation (box outside the image, zero-size box, unknown class):
    # "error" stops with a message naming the file; "drop" removes it and logs how many were removed.
    _C.SCRATCHDET.DATA.ON_BAD_ANNOTATION = "error"
    # Check that every image file of a training/test dataset exists before training starts.
    _C.SCRATCHDET.DATA.CHECK_IMAGES = True

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

    # Unlabelled image sets to register without code: a list of [name, path] where path is a
    # folder (its images, recursively) or a COCO json whose "images" are used (its annotations,
    # if any, are ignored; then [name, json_file, image_root]). They feed image-only phases
    # (MAE pre-training) through DATASETS.TRAIN, and self-training's teacher
    # (SCRATCHDET.SELF_TRAINING.UNLABELLED).
    _C.SCRATCHDET.DATA.UNLABELLED = []
