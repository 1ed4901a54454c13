"""ViTDet-style backbone from yacs keys: output names/strides/channels, the size divisibility the
meta-architecture pads to, inputs of any size (odd sizes, larger than the square pad), the
meta-device build the config checks rely on, and its config errors."""

import os

import pytest
import torch
from detectron2.modeling import build_backbone, build_model

from scratchdet.config import ConfigError, load_config_file
from scratchdet.engine.setup.checks import check_run_config as check_config
from scratchdet.engine.setup.feature_checks import backbone_output_shapes
from scratchdet.modeling.backbone.vit_sfp import PaddedSimpleFeaturePyramid, PlainViT
from tests.conftest import REPO

CPU_CONFIG = os.path.join(REPO, "projects", "ViTDet-Scratch", "configs", "mask_rcnn_vit_tiny_shapes_cpu.yaml")
B_CONFIG = os.path.join(REPO, "projects", "ViTDet-Scratch", "configs", "mask_rcnn_vit_b_scratch.yaml")


def cpu_cfg(*opts):
    return load_config_file(CPU_CONFIG, ["DATALOADER.NUM_WORKERS", "0", *opts])


def test_tiny_outputs_and_divisibility():
    backbone = build_backbone(cpu_cfg())
    assert isinstance(backbone, PaddedSimpleFeaturePyramid) and isinstance(backbone.net, PlainViT)
    shapes = backbone.output_shape()
    assert {k: s.stride for k, s in shapes.items()} == {"p2": 4, "p3": 8, "p4": 16, "p5": 32}
    assert {s.channels for s in shapes.values()} == {64}
    # detectron2's pyramid misspells the key (so nothing is padded) and ignores the top block.
    assert backbone.size_divisibility == 32
    assert backbone.padding_constraints == {"size_divisibility": 32}


def test_paper_size_outputs_built_on_meta_device():
    # The config checks build the backbone on the meta device: it must not be skipped.
    shapes, num_top = backbone_output_shapes(load_config_file(B_CONFIG))
    assert {k: (s.stride, s.channels) for k, s in shapes.items()} == {
        "p2": (4, 256), "p3": (8, 256), "p4": (16, 256), "p5": (32, 256), "p6": (64, 256)}
    assert num_top == 1


@pytest.mark.parametrize("square, size, expected", [
    (0, (70, 90), (96, 96)),       # odd sizes: padded up to the largest stride (32)
    (128, (100, 130), (128, 160)),  # square pad, then divisibility
    (128, (128, 200), (128, 224)),  # larger than the square: padded, never cropped
])
def test_forward_pads_any_size(square, size, expected):
    backbone = build_backbone(cpu_cfg("MODEL.SFP.SQUARE_PAD", str(square))).eval()
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, *size))
    for name, stride in (("p2", 4), ("p3", 8), ("p4", 16), ("p5", 32)):
        assert tuple(out[name].shape[-2:]) == (expected[0] // stride, expected[1] // stride)
        assert torch.isfinite(out[name]).all()


def test_pad_to_window_grid():
    # patch 8 x window 5 = 40 px windows; lcm(32, 40) = 160.
    backbone = build_backbone(cpu_cfg("MODEL.VIT.WINDOW_SIZE", "5", "MODEL.SFP.PAD_TO_WINDOW", "True"))
    assert backbone.size_divisibility == 160


def test_detector_on_odd_size_image():
    cfg = cpu_cfg("MODEL.SFP.SQUARE_PAD", "0")
    model = build_model(cfg).eval()
    image = torch.randint(0, 255, (3, 100, 130), dtype=torch.uint8).float()
    images = model.preprocess_image([{"image": image}])
    assert tuple(images.tensor.shape[-2:]) == (128, 160) and images.image_sizes == [(100, 130)]
    with torch.no_grad():
        out = model([{"image": image, "height": 100, "width": 130}])[0]["instances"]
    assert torch.isfinite(out.pred_boxes.tensor).all()
    assert (out.pred_boxes.tensor[:, 2] <= 130).all() and (out.pred_boxes.tensor[:, 3] <= 100).all()


def test_state_dict_keys_are_detectron2_vits():
    # Same names as detectron2's ViT (with timm's Mlp), so ViTDet checkpoints and
    # get_vit_lr_decay_rate work unchanged.
    keys = build_backbone(cpu_cfg()).state_dict().keys()
    for key in ("net.pos_embed", "net.patch_embed.proj.weight", "net.blocks.0.attn.qkv.weight",
                "net.blocks.1.attn.rel_pos_h", "net.blocks.3.mlp.fc1.weight", "net.blocks.3.mlp.fc2.bias",
                "net.blocks.0.norm1.weight", "simfp_2.0.weight", "simfp_4.1.norm.weight"):
        assert key in keys, key


def test_drop_path_rates():
    vit = build_backbone(cpu_cfg("MODEL.VIT.DROP_PATH_RATE", "0.3")).net
    assert isinstance(vit.blocks[0].drop_path, torch.nn.Identity)
    assert [b.drop_path.p for b in vit.blocks[1:]] == pytest.approx([0.1, 0.2, 0.3])


def test_norm_all_sets_pyramid_norm():
    assert cpu_cfg("SCRATCHDET.NORM.ALL", "BN").MODEL.SFP.NORM == "BN"


@pytest.mark.parametrize("opts, message", [
    (["MODEL.VIT.NUM_HEADS", "5"], "MODEL.VIT.EMBED_DIM=96 is not divisible by MODEL.VIT.NUM_HEADS=5"),
    (["MODEL.SFP.SCALE_FACTORS", "(4.0, 1.0)"], "MODEL.SFP.SCALE_FACTORS"),
    (["MODEL.VIT.GLOBAL_BLOCK_INDEXES", "[1, 4]"], "MODEL.VIT.GLOBAL_BLOCK_INDEXES has [4]"),
    (["MODEL.SFP.NORM", "GN"], "MODEL.SFP.OUT_CHANNELS"),  # 64 channels: fine; 96 / 2 = 48 at 4x
    (["MODEL.RPN.IN_FEATURES", "['p2', 'p3', 'p4', 'p5', 'p6']"], "set MODEL.RPN.IN_FEATURES"),
])
def test_config_errors(opts, message):
    cfg = cpu_cfg(*opts)
    if opts[0] == "MODEL.SFP.NORM":
        cfg.MODEL.SFP.OUT_CHANNELS = 48
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        check_config(cfg, training=False)
