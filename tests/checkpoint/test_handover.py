import json
import os

import pytest
import torch
from torch import nn

from scratchdet.checkpoint import CheckpointError, ScratchCheckpointer, register_conversion_rule
from scratchdet.checkpoint.conversion import CONVERSION_RULES


def hand_over(model, state, key_map=None, report_file=None, tmp_path=None):
    """Weights handed over as MODEL.WEIGHTS arrive: saved to a file, loaded (weights only) by the
    checkpointer; returns its report."""
    import tempfile

    folder = str(tmp_path) if tmp_path else tempfile.mkdtemp()
    path = os.path.join(folder, "source.pth")
    torch.save({"model": state}, path)
    report_file = report_file or os.path.join(folder, "handover.json")
    ScratchCheckpointer(model, key_map=key_map, report_file=report_file).load(path, checkpointables=[])
    with open(report_file) as f:
        return json.load(f)


class Detector(nn.Module):
    def __init__(self, head_out=3, pos_len=4):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.bottom_up = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.head = nn.Linear(4, head_out)
        self.pos = nn.Parameter(torch.arange(pos_len, dtype=torch.float32))


def test_copy_and_reinit_are_reported(tmp_path):
    src, dst = Detector(head_out=3), Detector(head_out=5)
    with torch.no_grad():
        src.backbone.bottom_up[1].running_mean.fill_(0.5)
    fresh_head = dst.head.weight.clone()
    report = hand_over(dst, src.state_dict(), report_file=str(tmp_path / "h.json"))
    assert torch.equal(dst.backbone.bottom_up[0].weight, src.backbone.bottom_up[0].weight)
    assert torch.equal(dst.backbone.bottom_up[1].running_mean, torch.full((4,), 0.5))  # buffers too
    assert torch.equal(dst.head.weight, fresh_head)  # another shape: kept at its fresh init
    reinit = dict(report["reinitialized"])
    assert reinit["head.weight"] == "shape (3, 4) != (5, 4)" and "head.bias" in reinit
    assert "backbone.bottom_up.0.weight" in report["copied"] and "pos" in report["copied"]
    assert json.load(open(tmp_path / "h.json")) == json.loads(json.dumps(report))


def test_key_map_hands_a_classifier_backbone_to_a_detector():
    classifier = nn.Module()
    classifier.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    classifier.classifier = nn.Linear(4, 6)
    dst = Detector()
    report = hand_over(dst, classifier.state_dict(), key_map=[["backbone.", "backbone.bottom_up."]])
    assert torch.equal(dst.backbone.bottom_up[0].weight, classifier.backbone[0].weight)
    assert set(report["unused"]) == {"classifier.weight", "classifier.bias"}


def test_nothing_matching_is_an_error_that_suggests_key_map():
    classifier = nn.Module()
    classifier.net = nn.Linear(2, 2)
    with pytest.raises(CheckpointError, match="KEY_MAP"):
        hand_over(Detector(), classifier.state_dict())


def test_conversion_rule_is_used_for_other_shapes():
    def stretch(key, src, dst):
        if key != "pos":
            return None
        return torch.nn.functional.interpolate(src[None, None], size=dst.shape[0], mode="linear",
                                               align_corners=True)[0, 0]

    register_conversion_rule("test_stretch", stretch)
    try:
        src, dst = Detector(pos_len=3), Detector(pos_len=5)
        report = hand_over(dst, src.state_dict())
        torch.testing.assert_close(dst.pos.data, torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0]))
        assert report["converted"] == [["pos", "test_stretch: (3,) -> (5,)"]]
    finally:
        CONVERSION_RULES.pop()


def test_source_file_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        ScratchCheckpointer(Detector()).load(str(tmp_path / "none.pth"), checkpointables=[])
    torch.save({"model": {"a": 1}}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="bad.pth is not a state dict of tensors"):
        ScratchCheckpointer(Detector()).load(str(tmp_path / "bad.pth"), checkpointables=[])


def test_report_file_is_written_for_weights_only_not_for_a_resume(tmp_path):
    src = Detector()
    torch.save({"model": src.state_dict()}, tmp_path / "w.pth")
    ck = ScratchCheckpointer(Detector(), report_file=str(tmp_path / "handover.json"))
    ck.load(str(tmp_path / "w.pth"))  # all checkpointables: a resume
    assert not (tmp_path / "handover.json").exists()
    ck.load(str(tmp_path / "w.pth"), checkpointables=[])  # MODEL.WEIGHTS
    assert len(json.load(open(tmp_path / "handover.json"))["copied"]) == len(src.state_dict())


def test_vit_position_terms_are_resized_by_the_hand_over():
    """Phase 1 at 64 px, phase 2 at 128 px: pos_embed and rel_pos tables change shape and are
    converted by the built-in rule, not re-initialised."""
    from detectron2.modeling import build_backbone

    from scratchdet.config import load_config_file
    from tests.conftest import REPO

    path = f"{REPO}/projects/ViTDet-Scratch/configs/mask_rcnn_vit_tiny_shapes_cpu.yaml"
    small = build_backbone(load_config_file(path, ["MODEL.VIT.IMG_SIZE", "64", "MODEL.VIT.PRETRAIN_IMG_SIZE", "64"]))
    big = build_backbone(load_config_file(path, ["MODEL.VIT.IMG_SIZE", "128", "MODEL.VIT.PRETRAIN_IMG_SIZE", "128"]))
    report = hand_over(big, small.state_dict())
    converted = dict(report["converted"])
    assert any(k.endswith("pos_embed") for k in converted)
    assert not [k for k, _ in report["reinitialized"] if "pos" in k]
