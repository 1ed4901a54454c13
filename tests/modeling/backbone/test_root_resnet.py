"""Root-ResNet: the stem, and the strides/channels of every output of every builder variant."""

import math

import pytest
import torch
from detectron2.layers import FrozenBatchNorm2d, ShapeSpec
from detectron2.modeling import build_backbone
from detectron2.modeling.backbone.resnet import BasicStem

from scratchdet.config import ConfigError, get_scratchdet_cfg
from scratchdet.modeling.backbone.root_resnet import (
    RootStem,
    build_root_resnet_backbone,
)

SIZE = 64  # input side (levels of stride > 64 are 1x1)
CHANNELS = {18: [64, 128, 256, 512], 50: [256, 512, 1024, 2048]}


def make_cfg(name, depth, stem, **fpn):
    cfg = get_scratchdet_cfg()
    cfg.MODEL.BACKBONE.NAME = name
    cfg.MODEL.RESNETS.DEPTH = depth
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64 if depth < 50 else 256
    cfg.MODEL.RESNETS.NORM = "BN"
    cfg.MODEL.RESNETS.STEM_TYPE = stem
    cfg.MODEL.RESNETS.OUT_FEATURES = fpn.pop("out", ["res2", "res3", "res4", "res5"])
    cfg.MODEL.FPN.IN_FEATURES = fpn.pop("fpn_in", cfg.MODEL.RESNETS.OUT_FEATURES)
    cfg.MODEL.FPN.OUT_CHANNELS = 32
    for k, v in fpn.items():
        cfg.MODEL.FPN[k] = v
    return cfg


def expected(variant, depth, stem):
    """{name: (stride, channels)} from the paper's definition, independent of the code."""
    s0 = 2 if stem == "root" else 4
    res = {f"res{i + 2}": (s0 * 2**i, CHANNELS[depth][i]) for i in range(4)}
    if variant == "plain":
        return res
    strides = [s0 * 2**i for i in range(4)]
    n_top = 1 if variant == "fpn" else 2
    strides += [strides[-1] * 2 ** (k + 1) for k in range(n_top)]
    return {f"p{int(math.log2(s))}": (s, 32) for s in strides}


BUILDERS = {
    "plain": "build_root_resnet_backbone",
    "fpn": "build_root_resnet_fpn_backbone",
    "retinanet": "build_retinanet_root_resnet_fpn_backbone",
}


@pytest.mark.parametrize("stem", ["root", "basic"])
@pytest.mark.parametrize("depth", [18, 50])
@pytest.mark.parametrize("variant", ["plain", "fpn", "retinanet"])
def test_strides_and_channels_of_every_output(variant, depth, stem):
    backbone = build_backbone(make_cfg(BUILDERS[variant], depth, stem)).eval()
    want = expected(variant, depth, stem)
    got = {k: (v.stride, v.channels) for k, v in backbone.output_shape().items()}
    assert got == want
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, SIZE, SIZE))
    assert list(out) == list(want)
    for name, (stride, channels) in want.items():
        side = math.ceil(SIZE / stride)  # stride-2 convs round up
        assert tuple(out[name].shape) == (1, channels, side, side), name


@pytest.mark.parametrize("depth", [34, 101])
def test_deeper_resnets_on_meta_device(depth):
    with torch.device("meta"):
        backbone = build_backbone(make_cfg("build_root_resnet_fpn_backbone", depth, "root"))
    assert {k: v.stride for k, v in backbone.output_shape().items()} == {"p1": 2, "p2": 4, "p3": 8, "p4": 16, "p5": 32}
    assert backbone.bottom_up.output_shape()["res5"].channels == (512 if depth == 34 else 2048)


def test_root_stem_layers():
    stem = RootStem(3, 32, norm="BN")
    convs = [stem.conv1, stem.conv2, stem.conv3]
    assert [c.kernel_size for c in convs] == [(3, 3)] * 3
    assert [c.stride for c in convs] == [(1, 1)] * 3
    assert [c.out_channels for c in convs] == [32] * 3
    assert all(isinstance(c.norm, torch.nn.BatchNorm2d) and c.bias is None for c in convs)
    assert stem.stride == 2 and stem.out_channels == 32
    assert stem(torch.randn(2, 3, 30, 30)).shape == (2, 32, 15, 15)
    # Without a norm the convs keep a bias.
    assert RootStem(3, 32, norm="").conv1.bias is not None


def test_stem_type_and_channels_from_config():
    cfg = make_cfg("build_root_resnet_backbone", 18, "", out=["stem", "res2"])
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = 32
    backbone = build_root_resnet_backbone(cfg, ShapeSpec(channels=3))
    assert isinstance(backbone.stem, RootStem)  # "" means root for these builders
    assert backbone.output_shape()["stem"] == ShapeSpec(channels=32, stride=2)
    assert backbone.output_shape()["res2"] == ShapeSpec(channels=64, stride=2)
    assert not hasattr(backbone, "res3")  # stages after the last output are not built
    cfg.MODEL.RESNETS.STEM_TYPE = "basic"
    assert isinstance(build_root_resnet_backbone(cfg, ShapeSpec(channels=3)).stem, BasicStem)


def test_freeze_at_freezes_the_root_stem():
    cfg = make_cfg("build_root_resnet_backbone", 18, "root")
    cfg.MODEL.BACKBONE.FREEZE_AT = 2
    backbone = build_backbone(cfg)
    assert isinstance(backbone.stem.conv3.norm, FrozenBatchNorm2d)
    assert not any(p.requires_grad for p in backbone.stem.parameters())
    assert not any(p.requires_grad for p in backbone.res2.parameters())
    assert all(p.requires_grad for p in backbone.res3.parameters())


def test_retinanet_p3_p7_with_root_stem():
    cfg = make_cfg(BUILDERS["retinanet"], 18, "root", out=["res4", "res5"], TOP_BLOCK_NUM_LEVELS=3)
    backbone = build_backbone(cfg)
    assert {k: v.stride for k, v in backbone.output_shape().items()} == {
        "p3": 8, "p4": 16, "p5": 32, "p6": 64, "p7": 128,
    }
    # P5 is computed from res5 (512 channels), the next levels from the previous level.
    assert backbone.top_block.in_feature == "res5"
    assert backbone.top_block.p5.in_channels == 512 and backbone.top_block.p6.in_channels == 32
    out = backbone(torch.randn(1, 3, 128, 128))
    assert out["p7"].shape[-2:] == (1, 1) and out["p3"].shape[-2:] == (16, 16)


def test_fpn_top_block_from_last_level_and_extra_levels():
    cfg = make_cfg(BUILDERS["fpn"], 18, "root", TOP_BLOCK_NUM_LEVELS=2)
    backbone = build_backbone(cfg)
    assert backbone.top_block.in_feature == "p4"
    assert [k for k in backbone.output_shape()] == ["p1", "p2", "p3", "p4", "p5", "p6"]
    out = backbone(torch.randn(1, 3, SIZE, SIZE))
    # Max-pool levels subsample p4.
    assert torch.equal(out["p5"], out["p4"][..., ::2, ::2])
    assert torch.equal(out["p6"], out["p5"][..., ::2, ::2])


def test_basic_stem_retinanet_matches_detectron2_parameter_names():
    ours = build_backbone(make_cfg(BUILDERS["retinanet"], 18, "basic", out=["res3", "res4", "res5"]))
    cfg = make_cfg("build_retinanet_resnet_fpn_backbone", 18, "basic", out=["res3", "res4", "res5"])
    theirs = build_backbone(cfg)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}


@pytest.mark.parametrize(
    "variant, key, value, match",
    [
        ("fpn", "TOP_BLOCK_IN_FEATURE", "p5",
         r"TOP_BLOCK_IN_FEATURE='p5'.*last FPN level is p4.*set MODEL.FPN.TOP_BLOCK_IN_FEATURE to 'p4'"),
        ("fpn", "TOP_BLOCK_IN_FEATURE", "res5", r"must be 'p4'"),
        ("retinanet", "TOP_BLOCK_IN_FEATURE", "res4", r"'p4' or 'res5'"),
        ("fpn", "IN_FEATURES", ["res2", "res3", "res4", "res6"], r"MODEL.FPN.IN_FEATURES=.*\['res6'\].*MODEL.RESNETS.OUT_FEATURES"),
        ("fpn", "TOP_BLOCK_NUM_LEVELS", -2, r"TOP_BLOCK_NUM_LEVELS=-2"),
    ],
)
def test_builder_config_errors(variant, key, value, match):
    cfg = make_cfg(BUILDERS[variant], 18, "root")
    cfg.MODEL.FPN[key] = value
    with pytest.raises(ConfigError, match=match):
        build_backbone(cfg)


def test_unknown_stem_type():
    with pytest.raises(ConfigError, match=r"STEM_TYPE='deep'.*'basic', 'root'"):
        build_backbone(make_cfg(BUILDERS["plain"], 18, "deep"))
