"""Config keys of masked-image (MAE) pre-training of the plain ViT on the target images
(scratchdet.modeling.meta_arch.mae, mapper "ImageOnlyMapper"); its unlabelled images are
registered with SCRATCHDET.DATA.UNLABELLED (data.py)."""

from detectron2.config import CfgNode as CN


def add_mae_config(cfg: CN) -> None:
    """Add SCRATCHDET.MAE (in place). Defaults are He et al. 2022
    ("Masked Autoencoders Are Scalable Vision Learners"), section 4 and appendix A.1."""
    _C = cfg
    _C.SCRATCHDET.MAE = CN()
    # Fraction of the patches removed from the encoder's input (the paper: 0.75).
    _C.SCRATCHDET.MAE.MASK_RATIO = 0.75
    # The light decoder that reconstructs the pixels (the paper's default: 512 wide, 8 blocks,
    # 16 heads); it is dropped after pre-training.
    _C.SCRATCHDET.MAE.DECODER_EMBED_DIM = 512
    _C.SCRATCHDET.MAE.DECODER_DEPTH = 8
    _C.SCRATCHDET.MAE.DECODER_NUM_HEADS = 16
    # Loss on the pixels of each patch normalised by that patch's mean and std (the paper's
    # better-performing target, its Table 1d).
    _C.SCRATCHDET.MAE.NORM_PIX_LOSS = True
    # The encoder's absolute position terms are MAE's fixed 2-D sin-cos table (not trained) during
    # pre-training, as in the paper; False trains them from their random start like ViTDet's.
    # The fine-tuned detector receives the table as its starting point (and trains it).
    _C.SCRATCHDET.MAE.FIXED_SINCOS_POS = True
    # Side of the square random-resized crops the pre-training sees (the paper: 224). Make it
    # MODEL.VIT.PRETRAIN_IMG_SIZE so the absolute position embedding is used at its own size.
    _C.SCRATCHDET.MAE.IMAGE_SIZE = 224
    # Area range of the random-resized crop (the paper: 0.2-1.0) and its aspect-ratio range.
    _C.SCRATCHDET.MAE.CROP_SCALE = (0.2, 1.0)
    _C.SCRATCHDET.MAE.CROP_RATIO = (0.75, 1.3333)
    # Images drawn as original / masked / reconstruction in OUTPUT_DIR/mae_reconstructions.png by
    # the hook "MAEReconstructionPNG" (first images of DATASETS.TRAIN, fixed mask seed).
    _C.SCRATCHDET.MAE.VIS_NUM_IMAGES = 4
