"""LazyConfig twin of mask_rcnn_vit_tiny_shapes_cpu.yaml: Mask R-CNN with a tiny ViTDet-style
backbone (ViT 96 wide, 4 blocks, patch 8) from random initialisation on the embedded shapes
dataset (128 px), sized for 2 CPU cores.

    python train_net.py --config-file projects/ViTDet-Scratch/configs/mask_rcnn_vit_tiny_shapes_cpu.py \\
        train.max_iter=100 train.output_dir=output/vit_tiny_lazy

Built on detectron2's ``common/models/mask_rcnn_vitdet.py`` (2-conv RPN head, 4conv1fc box head
and mask head with LN), with scratchdet's ViT and pyramid (no timm needed; padding enforced).
"""

import detectron2.data.transforms as T
import torch
from detectron2 import model_zoo
from detectron2.config import LazyCall as L
from detectron2.data import (
    DatasetMapper,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.evaluation import COCOEvaluator
from detectron2.solver import WarmupParamScheduler
from fvcore.common.param_scheduler import MultiStepParamScheduler
from omegaconf import OmegaConf

from scratchdet.modeling.backbone.fpn_top_blocks import LastLevelMaxPools
from scratchdet.modeling.backbone.vit_sfp import PaddedSimpleFeaturePyramid, PlainViT
from scratchdet.solver import vit_param_groups

SIZE = 128

model = model_zoo.get_config("common/models/mask_rcnn_vitdet.py").model
model.backbone = L(PaddedSimpleFeaturePyramid)(
    net=L(PlainViT)(
        img_size=SIZE, patch_size=8, embed_dim=96, depth=4, num_heads=3, drop_path_rate=0.0,
        window_size=4, window_block_indexes=[0, 2],  # global attention in blocks 1 and 3
        use_rel_pos=True, pretrain_img_size=SIZE, pretrain_use_cls_token=False, out_feature="last_feat",
    ),
    in_feature="${.net.out_feature}",
    out_channels=64,
    scale_factors=(2.0, 1.0, 0.5),  # p2, p3, p4 at strides 4, 8, 16
    top_block=L(LastLevelMaxPools)(in_feature="p4"),  # p5
    norm="LN",
    square_pad=SIZE,
)
# From scratch: inputs divided by their std, as the yaml configs (BGR, detectron2's defaults).
model.pixel_mean = [103.53, 116.28, 123.675]
model.pixel_std = [57.375, 57.12, 58.395]
model.input_format = "BGR"

rpn = model.proposal_generator
rpn.in_features = ["p2", "p3", "p4", "p5"]
rpn.head.in_channels = 64
rpn.anchor_generator.sizes = [[12], [24], [48], [96]]  # shapes are 8-60 px
rpn.anchor_generator.strides = [4, 8, 16, 32]
rpn.batch_size_per_image = 128
rpn.pre_nms_topk = (600, 300)
rpn.post_nms_topk = (200, 100)

roi = model.roi_heads
roi.num_classes = 5
roi.batch_size_per_image = 64
roi.box_in_features = roi.mask_in_features = ["p2", "p3", "p4"]
roi.box_pooler.scales = roi.mask_pooler.scales = (1.0 / 4, 1.0 / 8, 1.0 / 16)
roi.box_head.input_shape.channels = roi.mask_head.input_shape.channels = 64
roi.box_head.conv_dims = [64, 64, 64, 64]
roi.box_head.fc_dims = [256]
roi.box_predictor.input_shape.channels = 256
roi.box_predictor.test_topk_per_image = 50
roi.mask_head.conv_dims = [64, 64]

dataloader = OmegaConf.create()
dataloader.train = L(build_detection_train_loader)(
    dataset=L(get_detection_dataset_dicts)(names="shapes_train"),
    mapper=L(DatasetMapper)(
        is_train=True,
        # Large-scale jitter (detectron2's ViTDet recipe), padded to the square by the backbone.
        augmentations=[
            L(T.RandomFlip)(horizontal=True),
            L(T.ResizeScale)(min_scale=0.5, max_scale=1.5, target_height=SIZE, target_width=SIZE),
            L(T.FixedSizeCrop)(crop_size=(SIZE, SIZE), pad=False),
        ],
        image_format="BGR",
        use_instance_mask=True,
        recompute_boxes=True,
    ),
    total_batch_size=8,
    num_workers=2,
)
dataloader.test = L(build_detection_test_loader)(
    dataset=L(get_detection_dataset_dicts)(names="shapes_val", filter_empty=False),
    mapper=L(DatasetMapper)(
        is_train=False,
        augmentations=[L(T.ResizeShortestEdge)(short_edge_length=SIZE, max_size=SIZE)],
        image_format="BGR",
    ),
    num_workers=2,
)
dataloader.evaluator = L(COCOEvaluator)(dataset_name="${..test.dataset.names}")

# AdamW, no weight decay on norms (detectron2's LayerNorm included) and position terms.
optimizer = L(torch.optim.AdamW)(
    params=L(vit_param_groups)(base_lr="${..lr}", weight_decay="${..weight_decay}", layer_decay=1.0,
                               no_wd_pos_and_norm=True),
    lr=4e-4,
    betas=(0.9, 0.999),
    weight_decay=0.05,
)

train = model_zoo.get_config("common/train.py").train
train.update(
    output_dir="output/vitdet_scratch/mask_rcnn_vit_tiny_shapes_cpu_lazy",
    max_iter=800,
    eval_period=200,
    log_period=20,
    device="cpu",
)
train.checkpointer.period = 200
# Schedules are fractions of train.max_iter: steps at 600/800 and 750/800, warm-up over 50/800
# (so that train.max_iter=N scales the whole schedule).
lr_multiplier = L(WarmupParamScheduler)(
    scheduler=L(MultiStepParamScheduler)(values=[1.0, 0.1, 0.01], milestones=[600, 750], num_updates=800),
    warmup_length=50 / 800,
    warmup_factor=0.001,
)
