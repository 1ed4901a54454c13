"""Layer-wise LR decay, no weight decay on norms/position terms, AdamW, and Trainer.build_optimizer
keeping detectron2's SGD when none of these options is set."""

import os

import pytest
import torch
from detectron2.layers.batch_norm import LayerNorm as ChannelsFirstLayerNorm
from detectron2.modeling import build_model
from detectron2.solver import build_optimizer as d2_build_optimizer

from scratchdet.config import ConfigError, load_config_file
from scratchdet.engine import Trainer
from scratchdet.solver import vit_param_groups
from tests.conftest import DEMO_CONFIG, REPO

CPU_CONFIG = os.path.join(REPO, "projects", "ViTDet-Scratch", "configs", "mask_rcnn_vit_tiny_shapes_cpu.yaml")


@pytest.fixture(scope="module")
def model():
    return build_model(load_config_file(CPU_CONFIG))


def hyper(groups):
    """parameter -> (lr, weight_decay)"""
    return {p: (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}


def test_layer_decay(model):
    params = dict(model.named_parameters())
    h = hyper(vit_param_groups(model, 1.0, 0.1, layer_decay=0.5, no_wd_pos_and_norm=False))
    assert len(h) == sum(p.requires_grad for p in model.parameters())
    depth = 4
    assert h[params["backbone.net.pos_embed"]][0] == pytest.approx(0.5 ** (depth + 1))
    assert h[params["backbone.net.patch_embed.proj.weight"]][0] == pytest.approx(0.5 ** (depth + 1))
    for i in range(depth):
        assert h[params[f"backbone.net.blocks.{i}.attn.qkv.weight"]][0] == pytest.approx(0.5 ** (depth - i))
    assert h[params["backbone.simfp_2.0.weight"]][0] == 1.0
    assert h[params["roi_heads.box_predictor.cls_score.weight"]][0] == 1.0


def test_no_weight_decay_on_norms_and_position_terms(model):
    params = dict(model.named_parameters())
    h = hyper(vit_param_groups(model, 1.0, 0.1, no_wd_pos_and_norm=True))
    for name in ("backbone.net.pos_embed", "backbone.net.blocks.1.attn.rel_pos_h",
                 "backbone.net.blocks.1.attn.rel_pos_w", "backbone.net.blocks.0.norm1.weight"):
        assert h[params[name]][1] == 0.0, name
    # detectron2's channels-first LayerNorm (pyramid, heads) counts as a norm.
    d2_ln = [m for m in model.modules() if isinstance(m, ChannelsFirstLayerNorm)]
    assert d2_ln and all(h[m.weight][1] == 0.0 and h[m.bias][1] == 0.0 for m in d2_ln)
    assert h[params["backbone.net.blocks.0.attn.qkv.weight"]][1] == 0.1
    # Merged into few groups (one per distinct setting).
    assert len(vit_param_groups(model, 1.0, 0.1)) == 2


def test_trainer_builds_adamw_from_config(model):
    cfg = load_config_file(CPU_CONFIG, ["SCRATCHDET.SOLVER.LAYER_DECAY", "0.8", "SOLVER.CLIP_GRADIENTS.ENABLED", "True"])
    opt = Trainer.build_optimizer(cfg, model)
    assert isinstance(opt, torch.optim.AdamW)  # wrapped with gradient clipping, still an AdamW
    assert type(opt).__name__ != "AdamW"
    assert opt.defaults["betas"] == (0.9, 0.999)
    assert max(g["lr"] for g in opt.param_groups) == pytest.approx(cfg.SOLVER.BASE_LR)


def test_trainer_keeps_detectron2_sgd_by_default():
    cfg = load_config_file(DEMO_CONFIG)
    model = build_model(cfg)
    ours, theirs = Trainer.build_optimizer(cfg, model), d2_build_optimizer(cfg, model)
    assert type(ours) is torch.optim.SGD
    assert [(g["lr"], g["weight_decay"], len(g["params"])) for g in ours.param_groups] == [
        (g["lr"], g["weight_decay"], len(g["params"])) for g in theirs.param_groups]


def test_errors():
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.SOLVER.LAYER_DECAY", "0.7"])
    with pytest.raises(ConfigError, match="needs a ViT backbone"):
        Trainer.build_optimizer(cfg, build_model(cfg))
    with pytest.raises(ConfigError, match="OPTIMIZER='Adam'"):
        Trainer.build_optimizer(load_config_file(DEMO_CONFIG, ["SCRATCHDET.SOLVER.OPTIMIZER", "Adam"]), None)
