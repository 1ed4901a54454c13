"""Done-when of the one weight-loading path: a phase-1 checkpoint loaded by MODEL.WEIGHTS (no
PHASE1 block) gives the same model, bit for bit, and the same handover.json as phase 2's
hand-over of that checkpoint, for a ViT whose position terms change size and for a BN detector
whose (partly frozen) BN statistics are re-estimated."""

import json
import os

import torch
from detectron2.utils.env import seed_all_rng

from scratchdet.checkpoint import ScratchCheckpointer
from scratchdet.config import load_config_file
from scratchdet.engine import Trainer
from scratchdet.engine.run.phases import phase1_config, phase2_config
from tests.conftest import DEMO_CONFIG, REPO, TINY_OPTS

VIT = os.path.join(REPO, "projects", "ViTDet-Scratch", "configs", "mask_rcnn_vit_tiny_shapes_cpu.yaml")


def _loaded(cfg):
    """The model of a trainer built from ``cfg`` once its weights have arrived, and its report."""
    seed_all_rng(0)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    report = json.load(open(os.path.join(cfg.OUTPUT_DIR, "handover.json")))
    return trainer.model.state_dict(), report


def _both_paths(tmp_path, config, opts, phase1_opts):
    """(state, report) by phase 2 of a two-phase config, then by MODEL.WEIGHTS of the same checkpoint."""
    two = load_config_file(config, opts + ["SCRATCHDET.PHASE1.ENABLED", "True", *phase1_opts,
                                           "OUTPUT_DIR", str(tmp_path / "two")])
    p1 = phase1_config(two)
    seed_all_rng(1)
    os.makedirs(p1.OUTPUT_DIR)
    ScratchCheckpointer(Trainer.build_model(p1), p1.OUTPUT_DIR).save("model_final")  # phase 1's weights
    source = os.path.join(p1.OUTPUT_DIR, "model_final.pth")
    by_phase2 = _loaded(phase2_config(two, source))
    one = load_config_file(config, opts + ["MODEL.WEIGHTS", source, "OUTPUT_DIR", str(tmp_path / "one")])
    one.freeze()
    return by_phase2, _loaded(one), torch.load(source, weights_only=True)["model"]


def _assert_same(a, b):
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]


def test_vit_position_terms_same_by_model_weights_and_by_phase2(tmp_path):
    opts = TINY_OPTS[:4] + ["SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0"]
    small = ["SCRATCHDET.PHASE1.MODEL.VIT.IMG_SIZE", "64", "SCRATCHDET.PHASE1.MODEL.VIT.PRETRAIN_IMG_SIZE", "64"]
    (s2, r2), (s1, r1), source = _both_paths(tmp_path, VIT, opts, small)
    _assert_same(s2, s1)
    assert r2 == r1
    converted = [k for k, _ in r1["converted"]]
    assert any(k.endswith("pos_embed") for k in converted) and any("rel_pos" in k for k in converted)
    key = next(k for k in converted if k.endswith("pos_embed"))
    assert source[key].shape != s1[key].shape


def test_bn_reestimation_same_by_model_weights_and_by_phase2(tmp_path):
    opts = TINY_OPTS + ["MODEL.MASK_ON", "False", "SCRATCHDET.HANDOVER.PRECISE_BN_ITERS", "2",
                        "SCRATCHDET.FREEZE", "backbone"]
    (s2, r2), (s1, r1), source = _both_paths(tmp_path, DEMO_CONFIG, opts, ["SCRATCHDET.PHASE1.INPUT.MIN_SIZE_TRAIN", "(64,)"])
    _assert_same(s2, s1)
    assert r2 == r1 and not r1["reinitialized"]
    # the frozen backbone's statistics were re-estimated (not phase 1's) and its weights copied
    for k in ("backbone.bottom_up.res2.0.conv1.norm.running_mean", "backbone.fpn_lateral2.norm.running_var"):
        if k in s1:
            assert not torch.equal(s1[k], source[k]), k
    assert torch.equal(s1["backbone.bottom_up.res2.0.conv1.weight"], source["backbone.bottom_up.res2.0.conv1.weight"])
