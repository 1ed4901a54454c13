"""Config keys of the norm policy and from-scratch initialisation (scratchdet.modeling.norm_policy)."""

from detectron2.config import CfgNode as CN


def add_norm_config(cfg: CN) -> None:
    """Add SCRATCHDET.NORM and SCRATCHDET.INIT (in place)."""
    _C = cfg
    _C.SCRATCHDET.NORM = CN()
    # One norm for the whole detector: backbone, FPN, box head, mask head, RetinaNet head,
    # semantic-segmentation head, ViT's pyramid (MODEL.SFP.NORM), the SSD head (MODEL.SSD.HEAD_NORM)
    # and every key a user's head adds with norm_policy.register_norm_key.
    # One of BN, SyncBN, nnSyncBN, naiveSyncBN, naiveSyncBN_N, GN, FrozenBN, LN, or "" for no norm.
    # None (the default) leaves detectron2's per-part keys (MODEL.RESNETS.NORM, ...) as they are.
    # Heads that can see an empty batch get naiveSyncBN_N where ALL is SyncBN/nnSyncBN.
    _C.SCRATCHDET.NORM.ALL = None

    _C.SCRATCHDET.INIT = CN()
    # Re-initialise the convs of SCRATCHDET.INIT.MODULES after the model is built: "" keeps each
    # layer's own init; "msra" is the MSRA/Kaiming fill (normal, fan_out, ReLU gain, zero bias).
    _C.SCRATCHDET.INIT.CONV_FILL = ""
    # Name prefixes (in model.named_modules()) of the modules CONV_FILL applies to. Prediction
    # layers of the heads keep their own init (e.g. RetinaNet's prior-probability bias).
    _C.SCRATCHDET.INIT.MODULES = ["backbone"]
    # Zero the scale (gamma) of the last norm in each residual block, so that each block starts
    # as the identity ("Accurate, Large Minibatch SGD", Goyal et al. 2017).
    _C.SCRATCHDET.INIT.ZERO_INIT_RESIDUAL = False
