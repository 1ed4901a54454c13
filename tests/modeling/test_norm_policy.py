"""Norm policy (config) and from-scratch init (model)."""

import pytest
import torch
from detectron2.layers import FrozenBatchNorm2d, ShapeSpec
from detectron2.modeling import build_backbone, build_model
from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock
from torch import nn

from scratchdet.config import ConfigError, get_scratchdet_cfg
from scratchdet.config.norm_policy import NORM_KEYS, NORMS, apply_norm_policy, register_norm_key
from scratchdet.engine.setup.checks import check_run_config
from scratchdet.modeling.norm_policy import init_for_scratch, msra_fill_convs, zero_init_residual

PARTS = ["MODEL.RESNETS.NORM", "MODEL.FPN.NORM", "MODEL.ROI_BOX_HEAD.NORM", "MODEL.ROI_MASK_HEAD.NORM",
         "MODEL.RETINANET.NORM", "MODEL.SEM_SEG_HEAD.NORM"]
EMPTY_BATCH = {"MODEL.ROI_BOX_HEAD.NORM", "MODEL.ROI_MASK_HEAD.NORM"}


def get(cfg, key):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


@pytest.mark.parametrize("norm", NORMS)
def test_policy_sets_every_key(norm):
    cfg = get_scratchdet_cfg()
    cfg.SCRATCHDET.NORM.ALL = norm
    out = apply_norm_policy(cfg)
    for key in PARTS:
        want = "naiveSyncBN_N" if key in EMPTY_BATCH and norm in ("SyncBN", "nnSyncBN") else norm
        assert get(out, key) == want, key
    assert cfg.MODEL.RESNETS.NORM == "FrozenBN"  # the input is left as it was
    assert apply_norm_policy(out) == out  # idempotent


def test_unset_policy_keeps_detectron2_keys():
    cfg = get_scratchdet_cfg()
    cfg.MODEL.FPN.NORM = "GN"
    out = apply_norm_policy(cfg)
    assert out == cfg and out is not cfg
    assert out.MODEL.RESNETS.NORM == "FrozenBN" and out.MODEL.FPN.NORM == "GN"


def test_policy_from_command_line_and_frozen_state():
    from scratchdet.config import load_config_file

    cfg = load_config_file("", ["SCRATCHDET.NORM.ALL", ""])
    cfg.freeze()
    out = apply_norm_policy(cfg)
    assert out.is_frozen()
    assert all(get(out, k) == "" for k in PARTS)


def test_registered_keys_are_set_when_present():
    register_norm_key("MODEL.SSD_TEST.NORM")
    try:
        cfg = get_scratchdet_cfg()
        cfg.SCRATCHDET.NORM.ALL = "BN"
        assert "SSD_TEST" not in apply_norm_policy(cfg).MODEL  # absent keys are skipped
        cfg.MODEL.SSD_TEST = type(cfg)({"NORM": ""})
        assert apply_norm_policy(cfg).MODEL.SSD_TEST.NORM == "BN"
    finally:
        NORM_KEYS.pop("MODEL.SSD_TEST.NORM")


def test_invalid_values_are_config_errors():
    cfg = get_scratchdet_cfg()
    cfg.SCRATCHDET.NORM.ALL = "BatchNorm"
    with pytest.raises(ConfigError, match=r"SCRATCHDET.NORM.ALL='BatchNorm': use one of 'BN'"):
        apply_norm_policy(cfg)
    with pytest.raises(ConfigError, match=r"SCRATCHDET.NORM.ALL='BatchNorm'"):
        check_run_config(cfg)
    cfg = get_scratchdet_cfg()
    cfg.SCRATCHDET.INIT.CONV_FILL = "kaiming"
    with pytest.raises(ConfigError, match=r"SCRATCHDET.INIT.CONV_FILL='kaiming'"):
        check_run_config(cfg)


def test_check_config_sees_the_policy():
    # GN cannot normalise FPN.OUT_CHANNELS 48 (32 groups): ALL=GN must be caught.
    cfg = get_scratchdet_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.FPN.OUT_CHANNELS = 48
    check_run_config(cfg)
    cfg.SCRATCHDET.NORM.ALL = "GN"
    # Set after loading, the policy is not in the per-part keys the model reads: refused.
    with pytest.raises(ConfigError, match=r"SCRATCHDET.NORM.ALL='GN' is not applied \(MODEL.RESNETS.NORM="):
        check_run_config(cfg)
    with pytest.raises(ConfigError, match=r"MODEL.FPN.NORM='GN' normalises 48 channels"):
        check_run_config(apply_norm_policy(cfg))  # as load_config_file resolves it
    # SyncBN from the policy never reaches the heads that can see an empty batch.
    cfg = get_scratchdet_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.SCRATCHDET.NORM.ALL = "SyncBN"
    with pytest.raises(ConfigError) as e:
        check_run_config(apply_norm_policy(cfg), world_size=2)
    assert "ROI_MASK_HEAD" not in str(e.value) and "MODEL.RESNETS.NORM" in str(e.value)


def small_resnet(norm="BN", depth=18):
    cfg = get_scratchdet_cfg()
    cfg.MODEL.BACKBONE.NAME = "build_root_resnet_backbone"
    cfg.MODEL.RESNETS.DEPTH = depth
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64 if depth < 50 else 256
    cfg.MODEL.RESNETS.NORM = norm
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3"]
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    return build_backbone(cfg, ShapeSpec(channels=3))


@pytest.mark.parametrize("depth, block, last", [(18, BasicBlock, "conv2"), (50, BottleneckBlock, "conv3")])
def test_zero_init_gives_zero_gamma(depth, block, last):
    model = small_resnet(depth=depth)
    blocks = [m for m in model.modules() if isinstance(m, block)]
    assert zero_init_residual(model) == len(blocks) > 0
    for b in blocks:
        assert torch.count_nonzero(getattr(b, last).norm.weight) == 0
        # other norms keep their scale
        assert torch.all(b.conv1.norm.weight == 1)
    # An identity-shortcut block is then relu(x).
    b = next(b for b in blocks if b.shortcut is None)
    x = torch.randn(2, b.in_channels, 8, 8)
    torch.testing.assert_close(b(x.clone()), torch.relu(x))


def test_zero_init_skips_frozen_norms():
    model = small_resnet("FrozenBN")
    assert zero_init_residual(model) == 0
    assert all(torch.all(m.weight == 1) for m in model.modules() if isinstance(m, FrozenBatchNorm2d))


def test_init_for_scratch_msra_fill_only_under_modules():
    cfg = get_scratchdet_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.META_ARCHITECTURE = "RetinaNet"
    cfg.MODEL.BACKBONE.NAME = "build_retinanet_root_resnet_fpn_backbone"
    cfg.MODEL.RESNETS.DEPTH = 18
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = 64
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res4", "res5"]
    cfg.MODEL.FPN.IN_FEATURES = ["res4", "res5"]
    cfg.MODEL.FPN.TOP_BLOCK_NUM_LEVELS = 3
    cfg.MODEL.FPN.OUT_CHANNELS = 32
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    cfg.SCRATCHDET.NORM.ALL = "BN"
    cfg.MODEL.ANCHOR_GENERATOR.SIZES = [[32], [64], [128], [256], [512]]
    cfg.SCRATCHDET.INIT.CONV_FILL = "msra"
    cfg.SCRATCHDET.INIT.MODULES = ["backbone", "head"]
    cfg.SCRATCHDET.INIT.ZERO_INIT_RESIDUAL = True
    torch.manual_seed(0)
    model = build_model(apply_norm_policy(cfg))
    # The top block's convs start with Xavier fill and a zero bias: make it non-zero to see the refill.
    model.backbone.top_block.p6.bias.data.fill_(1.0)
    cls_bias = model.head.cls_score.bias.clone()  # RetinaNet's prior-probability bias
    init_for_scratch(model, cfg)
    conv = model.backbone.top_block.p6  # 32 -> 32, 3x3: MSRA std = sqrt(2 / (32 * 9))
    assert abs(conv.weight.std().item() - (2 / (32 * 9)) ** 0.5) < 0.01
    assert torch.all(model.backbone.top_block.p6.bias == 0)
    assert torch.equal(model.head.cls_score.bias, cls_bias)
    assert torch.all(model.backbone.bottom_up.res2[0].conv2.norm.weight == 0)
    cfg.SCRATCHDET.INIT.MODULES = ["backbone", "roi_heads"]
    with pytest.raises(ConfigError, match=r"\['roi_heads'\] name no module.*backbone, head"):
        init_for_scratch(model, cfg)


def test_msra_fill_counts_convs():
    model = small_resnet()
    n_convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert msra_fill_convs(model, [""]) == n_convs
    assert msra_fill_convs(model, ["res2"]) == sum(isinstance(m, nn.Conv2d) for m in model.res2.modules())
