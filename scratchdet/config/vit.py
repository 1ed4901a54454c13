"""Config keys of the ViTDet-style plain backbone (scratchdet.modeling.backbone.vit_sfp); its
optimizer options (AdamW, layer-wise LR decay) are SCRATCHDET.SOLVER (solver.py)."""

from detectron2.config import CfgNode as CN


def add_vit_config(cfg: CN) -> None:
    """Add MODEL.VIT and MODEL.SFP (in place). Defaults are ViT-B/16 with
    ViTDet's window/global blocks and pyramid (Li et al. 2022)."""
    _C = cfg
    _C.MODEL.VIT = CN()
    # Patch size of the patch embedding: the stride of the ViT's single output map.
    _C.MODEL.VIT.PATCH_SIZE = 16
    _C.MODEL.VIT.EMBED_DIM = 768
    _C.MODEL.VIT.DEPTH = 12
    _C.MODEL.VIT.NUM_HEADS = 12
    _C.MODEL.VIT.MLP_RATIO = 4.0
    _C.MODEL.VIT.QKV_BIAS = True
    # Stochastic depth: rate of the last block, rising linearly from 0 at the first.
    _C.MODEL.VIT.DROP_PATH_RATE = 0.1
    # Side (in tokens) of the attention windows of the window blocks.
    _C.MODEL.VIT.WINDOW_SIZE = 14
    # Blocks with global attention (0-based); all other blocks attend within windows.
    # ViTDet: the last block of each quarter, e.g. [2, 5, 8, 11] for depth 12.
    _C.MODEL.VIT.GLOBAL_BLOCK_INDEXES = [2, 5, 8, 11]
    # Blocks followed by a conv bottleneck block (ViTDet's "residual" propagation), usually none.
    _C.MODEL.VIT.RESIDUAL_BLOCK_INDEXES = []
    # Image side the global blocks' relative position tables are sized for (2 * IMG_SIZE /
    # PATCH_SIZE - 1 entries); other sizes interpolate them at run time.
    _C.MODEL.VIT.IMG_SIZE = 1024
    # Decomposed relative position terms in attention (MViTv2), as ViTDet.
    _C.MODEL.VIT.USE_REL_POS = True
    _C.MODEL.VIT.REL_POS_ZERO_INIT = True
    # Absolute position embedding, a square grid of PRETRAIN_IMG_SIZE / PATCH_SIZE tokens
    # (bicubically resized to each input at run time). From scratch, the training size avoids
    # that resize; 224 matches an ImageNet-pretrained ViT.
    _C.MODEL.VIT.USE_ABS_POS = True
    _C.MODEL.VIT.PRETRAIN_IMG_SIZE = 224
    # The embedding has a (unused) class-token slot, as checkpoints of classification ViTs.
    _C.MODEL.VIT.PRETRAIN_USE_CLS_TOKEN = True
    # Epsilon of the blocks' LayerNorms (ViTDet: 1e-6).
    _C.MODEL.VIT.LN_EPS = 1e-6
    # Name of the ViT's output feature, read by MODEL.SFP.IN_FEATURE.
    _C.MODEL.VIT.OUT_FEATURE = "last_feat"

    _C.MODEL.SFP = CN()
    # Simple feature pyramid from the ViT's last map: one level per factor, in {4, 2, 1, 0.5}
    # (deconvs up, max-pool down), from high to low resolution. Level names are p<log2 stride>:
    # patch 16 gives p2..p5; patch 8 with (2.0, 1.0, 0.5) gives p2..p4.
    _C.MODEL.SFP.SCALE_FACTORS = (4.0, 2.0, 1.0, 0.5)
    _C.MODEL.SFP.IN_FEATURE = "last_feat"
    _C.MODEL.SFP.OUT_CHANNELS = 256
    # Norm of the pyramid's convs (get_norm name; ViTDet: "LN", channels-first LayerNorm).
    _C.MODEL.SFP.NORM = "LN"
    # Extra levels above the last: "maxpool" (one stride-2 max-pooled level, as FPN's p6) or "".
    _C.MODEL.SFP.TOP_BLOCK = "maxpool"
    # Pad every input to at least this square (ViTDet + LSJ: 1024), so that test images see the
    # token grid of training; 0 pads each batch to its largest image. Larger inputs are padded to
    # their own size (detectron2's square padding would crop them).
    _C.MODEL.SFP.SQUARE_PAD = 0
    # Also pad inputs to a multiple of PATCH_SIZE * WINDOW_SIZE, so that window attention needs
    # no padding of its own (which adds zero tokens inside the last windows, as ViTDet does).
    _C.MODEL.SFP.PAD_TO_WINDOW = False
