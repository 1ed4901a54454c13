"""Config keys of scratchdet's optimizer options (scratchdet.solver.param_groups): AdamW, layer-wise
LR decay and no weight decay on norms and position terms, for any model."""

from detectron2.config import CfgNode as CN


def add_solver_config(cfg: CN) -> None:
    """Add ``SCRATCHDET.SOLVER.*`` (in place)."""
    _C = cfg
    # Kept when already defined (e.g. by a project's own add_*_config called first).
    if "SOLVER" not in _C.SCRATCHDET:
        _C.SCRATCHDET.SOLVER = CN()
    # Optimizer: "SGD" (detectron2's, SOLVER.MOMENTUM/NESTEROV) or "AdamW" (ViTDet; betas
    # SCRATCHDET.SOLVER.BETAS). Both use SOLVER.BASE_LR, SOLVER.WEIGHT_DECAY and gradient clipping.
    _C.SCRATCHDET.SOLVER.OPTIMIZER = "SGD"
    # AdamW's (beta1, beta2).
    _C.SCRATCHDET.SOLVER.BETAS = (0.9, 0.999)
    # Layer-wise LR decay (BEiT/ViTDet): ViT block i gets BASE_LR * LAYER_DECAY ** (DEPTH - i),
    # the patch/position embeddings the lowest; the pyramid and heads get BASE_LR. 1.0 is off.
    _C.SCRATCHDET.SOLVER.LAYER_DECAY = 1.0
    # No weight decay on norm parameters (BN, GN, torch's and detectron2's LayerNorm) and on the
    # position terms (pos_embed, rel_pos_h, rel_pos_w), as ViTDet.
    _C.SCRATCHDET.SOLVER.NO_WD_POS_AND_NORM = False
