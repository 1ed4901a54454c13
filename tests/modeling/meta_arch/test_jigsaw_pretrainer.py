"""JigsawPretrainer: registration, backbone keys for the hand-over, ERF labels, training steps."""

import math

import numpy as np
import pytest
import torch
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone, build_model
from detectron2.utils.events import EventStorage

from scratchdet.config import ConfigError, get_scratchdet_cfg
from scratchdet.data import build_mapper


def _cfg(*opts):
    cfg = get_scratchdet_cfg()
    cfg.merge_from_list([
        "MODEL.META_ARCHITECTURE", "JigsawPretrainer", "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "",
        "MODEL.RESNETS.DEPTH", "18", "MODEL.RESNETS.RES2_OUT_CHANNELS", "64", "MODEL.RESNETS.NORM", "BN",
        "MODEL.RESNETS.OUT_FEATURES", "['res4', 'res5']", "MODEL.BACKBONE.FREEZE_AT", "0",
        "MODEL.PIXEL_STD", "[57.375, 57.12, 58.395]", "DATASETS.TRAIN", "('shapes_train',)",
        "SCRATCHDET.DATA.TRAIN_MAPPER", "JigsawMapper", "SCRATCHDET.JIGSAW.CANVAS_SIZE", "64",
        "SCRATCHDET.JIGSAW.ERF_POOL", "2", "SCRATCHDET.JIGSAW.ERF_NUM_IMAGES", "1",
        "SCRATCHDET.JIGSAW.NUM_CLASSES", "5", *opts])  # the shapes' classes (the set-up step fills a 0)
    return cfg


def _batch(cfg, n=4):
    mapper = build_mapper(cfg, is_train=True)
    np.random.seed(0)
    return [mapper({}) for _ in range(n)]


def test_state_dict_is_backbone_and_classifier():
    assert "JigsawPretrainer" in META_ARCH_REGISTRY
    cfg = _cfg()
    torch.manual_seed(0)
    model = build_model(cfg)
    keys = set(model.state_dict())
    backbone_keys = {"backbone." + k for k in build_backbone(cfg).state_dict()}
    assert {k for k in keys if k.startswith("backbone.")} == backbone_keys
    assert keys - backbone_keys == {"classifier.weight", "classifier.bias"}
    assert model.in_feature == "res5" and model.classifier.out_channels == 6  # 5 classes + background


def test_bad_label_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="LABEL_MODE"):
        build_model(_cfg("SCRATCHDET.JIGSAW.LABEL_MODE", "soft"))


def test_erf_soft_labels_sum_to_one_and_respect_tau():
    cfg = _cfg("SCRATCHDET.JIGSAW.TAU", "0.6")
    torch.manual_seed(0)
    model = build_model(cfg)
    batch = _batch(cfg)
    model(batch)  # the first training step measures the ERF
    assert model.erf_integral.shape == (4, 33, 33) and model.erf_image_hw == (64, 64)
    assert model.erf_radius > 0
    torch.testing.assert_close(model.erf_integral[:, -1, -1], torch.ones(4))
    cells = torch.stack([d["cells"] for d in batch])
    w, own = model.label_weights(cells, (2, 2), (64, 64))
    torch.testing.assert_close(w.sum(1), torch.ones(4, 4))
    assert (w[own] >= 0.6 - 1e-6).all()
    assert (own.sum(1) == 1).all()  # the cells tile the canvas: every position has one own cell


@pytest.mark.parametrize("mode", ["erf", "global_mix", "block"])
def test_loss_is_finite_and_decreases(mode):
    cfg = _cfg("SCRATCHDET.JIGSAW.LABEL_MODE", mode)
    torch.manual_seed(0)
    model = build_model(cfg)
    batch = _batch(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = []
    for _ in range(6):
        loss = model(batch)["loss_jigsaw"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("mode", ["erf", "global_mix", "block"])
def test_training_logs_the_loss_floor_and_cell_accuracy(mode):
    cfg = _cfg("SCRATCHDET.JIGSAW.LABEL_MODE", mode)
    torch.manual_seed(0)
    model = build_model(cfg)
    with EventStorage() as storage:
        loss = float(model(_batch(cfg))["loss_jigsaw"])
        floor = storage.latest()["jigsaw_loss_floor"][0]
        acc = storage.latest()["jigsaw_cell_acc"][0]
    assert 0 <= acc <= 1
    assert 0 <= floor <= loss + 1e-6  # cross-entropy >= the targets' entropy
    if mode == "block":
        assert floor == 0  # hard labels
    else:
        assert 0 < floor < math.log(6)


def test_inference_gives_logits_and_cell_scores():
    cfg = _cfg()
    model = build_model(cfg).eval()
    with torch.no_grad():
        out = model(_batch(cfg, 2))
    assert out[0]["logits"].shape == (6, 2, 2)
    torch.testing.assert_close(out[0]["cell_scores"].sum(1), torch.ones(4))
    assert sorted(out[0]["position_cell"].tolist()) == [0, 1, 2, 3]  # 2x2 positions, one per cell


@pytest.mark.parametrize("opts, feature, grid", [
    (["MODEL.BACKBONE.NAME", "build_root_resnet_backbone", "MODEL.RESNETS.STEM_TYPE", "root",
      "SCRATCHDET.JIGSAW.CANVAS_SIZE", "32"], "res5", 4),                     # Root-ResNet: stride 16
    (["MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone", "MODEL.FPN.OUT_CHANNELS", "32",
      "MODEL.FPN.IN_FEATURES", "['res4', 'res5']", "SCRATCHDET.JIGSAW.IN_FEATURE", "p4"], "p4", 16),
])
def test_other_backbones(opts, feature, grid):
    cfg = _cfg(*opts)
    model = build_model(cfg)
    loss = model(_batch(cfg, 2))["loss_jigsaw"]
    assert model.in_feature == feature and model.erf_integral.shape[0] == grid
    assert math.isfinite(float(loss))
    assert {k.split(".")[0] for k in model.state_dict()} == {"backbone", "classifier"}
