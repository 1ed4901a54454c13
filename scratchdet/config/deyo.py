"""Config keys of DEYO's stage-2 end-to-end detector (META_ARCHITECTURE "DEYODetector")."""

from detectron2.config import CfgNode as CN


def add_deyo_config(cfg: CN) -> None:
    """Add ``SCRATCHDET.DEYO.*`` (in place)."""
    _C = cfg.SCRATCHDET
    _C.DEYO = CN()
    # Number of object classes; 0: the length of thing_classes of DATASETS.TRAIN[0] (stage 1's
    # MODEL.RETINANET.NUM_CLASSES for the same data).
    _C.DEYO.NUM_CLASSES = 0
    # Neck levels the decoder reads, from the backbone built by MODEL.BACKBONE.NAME (stage 1's).
    _C.DEYO.IN_FEATURES = ["p3", "p4", "p5"]
    # Replaced by SCRATCHDET.FREEZE, which DEYO follows as every model does ("backbone+neck" in
    # Base-DEYO.yaml: stage 2 trains only the decoder on stage 1's features); None is "not set",
    # setting it is an error that says so.
    _C.DEYO.FREEZE_BACKBONE = None
    # Where the queries' first reference boxes come from. "stage1": stage 1's own trained box
    # branch (DEYO's code: its decoder subclasses YOLO's Detect head and decodes the positions it
    # selects with it), handed over under stage 1's names (head.bbox_subnet.*, head.bbox_pred.*),
    # always frozen (whatever SCRATCHDET.FREEZE says); a new encoder score head trained in stage 2
    # ranks the positions.
    # "encoder_head": a new zero-initialised encoder box head over fixed anchors (RT-DETR).
    _C.DEYO.REFERENCE_BOXES = "stage1"
    # Stage 1's detector, whose box branch and box decoding "stage1" reference boxes reuse:
    # "RetinaNet" (anchors of MODEL.ANCHOR_GENERATOR, MODEL.RETINANET.BBOX_REG_WEIGHTS) or "FCOS"
    # (one point per position, distances normalised by the stride). Both read the head's shape
    # from MODEL.RETINANET.{IN_FEATURES, NUM_CONVS, NORM}, which must describe stage 1's head.
    _C.DEYO.STAGE1_ARCH = "RetinaNet"
    # Norm of the input projection (1x1 conv + norm per level): "BN" (DEYO's code) or "GN".
    _C.DEYO.INPUT_PROJ_NORM = "BN"
    # Boxes the loss sees at decoder layer i > 0: True, layer i's correction applied to layer
    # i-1's box with its gradient ("look forward twice", DINO/RT-DETR; DEYO's code); False, applied
    # to the detached reference (Deformable DETR). The reference each layer samples around is
    # detached either way, as are the first reference boxes.
    _C.DEYO.LOOK_FORWARD_TWICE = True
    # Width of the input projection, the queries and the decoder.
    _C.DEYO.HIDDEN_DIM = 256
    # Number of queries picked by query selection; also the most detections an image can have.
    _C.DEYO.NUM_QUERIES = 300
    # Number of decoder layers (each refines the boxes of the previous one).
    _C.DEYO.NUM_DECODER_LAYERS = 6
    # Attention heads, in self-attention and deformable cross-attention (must divide HIDDEN_DIM).
    _C.DEYO.NUM_HEADS = 8
    # Sampling points per head and per level of the deformable cross-attention.
    _C.DEYO.NUM_POINTS = 4
    # Hidden width of each decoder layer's feed-forward network.
    _C.DEYO.DIM_FEEDFORWARD = 1024
    # Dropout in the decoder layers.
    _C.DEYO.DROPOUT = 0.0
    # ("encoder_head" only) Side of the query-selection anchor on the first level, as a fraction
    # of the padded image (doubled on each following level); encoder boxes are predicted relative to it.
    _C.DEYO.ANCHOR_SCALE = 0.05
    # Classification loss: "varifocal" (IoU-aware targets, RT-DETR/DEYO) or "focal".
    _C.DEYO.CLASS_LOSS = "varifocal"
    # Alpha of the focal loss and of the matcher's focal-style class cost.
    _C.DEYO.FOCAL_ALPHA = 0.25
    # Alpha (weight of negatives) of the varifocal loss.
    _C.DEYO.VARIFOCAL_ALPHA = 0.75
    # Gamma of the focal and varifocal losses and of the matcher's class cost.
    _C.DEYO.FOCAL_GAMMA = 2.0
    # Loss weights: classification, L1 on normalised (cx, cy, w, h), and GIoU.
    _C.DEYO.CLASS_WEIGHT = 1.0
    _C.DEYO.BBOX_WEIGHT = 5.0
    _C.DEYO.GIOU_WEIGHT = 2.0

    _C.DEYO.MATCHER = CN()
    # Weights of the Hungarian matching costs: class (focal-style), L1 and GIoU.
    _C.DEYO.MATCHER.COST_CLASS = 2.0
    _C.DEYO.MATCHER.COST_BBOX = 5.0
    _C.DEYO.MATCHER.COST_GIOU = 2.0

    _C.DEYO.DENOISING = CN()
    # Budget of contrastive denoising queries per image in training (0 disables; RT-DETR uses 100).
    _C.DEYO.DENOISING.NUM_QUERIES = 0
    # Fraction of denoising labels that may be flipped to a random class (half of it on average).
    _C.DEYO.DENOISING.LABEL_NOISE_RATIO = 0.5
    # Box noise, relative to half the box size (negatives get between one and two times it).
    _C.DEYO.DENOISING.BOX_NOISE_SCALE = 1.0
