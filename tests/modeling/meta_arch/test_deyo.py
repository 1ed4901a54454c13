"""DEYO stage 2 (DEYODetector): it learns, its frozen backbone never changes, it loads stage 1's
backbone by name, and its inference has no NMS."""

import importlib
import os

import pytest
import torch
import torchvision
from detectron2.data import DatasetCatalog, DatasetMapper
from detectron2.modeling import build_model

from scratchdet.config import ConfigError, load_config_file
from scratchdet.solver import build_optimizer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CPU_CONFIG = os.path.join(REPO, "projects", "DEYO", "configs", "deyo_R18_FPN_shapes_cpu.yaml")
# Tinier than the CPU config: a few tenths of a second per step on 2 cores.
TINY = [
    "MODEL.FPN.OUT_CHANNELS", "32", "SCRATCHDET.DEYO.HIDDEN_DIM", "32", "SCRATCHDET.DEYO.NUM_HEADS", "4",
    "SCRATCHDET.DEYO.DIM_FEEDFORWARD", "64", "SCRATCHDET.DEYO.NUM_QUERIES", "20", "TEST.DETECTIONS_PER_IMAGE", "10",
]


def _cfg(*opts):
    return load_config_file(CPU_CONFIG, TINY + list(opts))


def _batch(cfg, n=2):
    mapper = DatasetMapper(cfg, is_train=True, augmentations=[])
    return [mapper(d) for d in DatasetCatalog.get("shapes_train")[:n]]


def _backbone_state(model):
    return {k: v.detach().clone() for k, v in model.backbone.state_dict().items()}


def _step(model, optimizer, batch):
    losses = model(batch)
    loss = sum(losses.values())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def test_loss_falls_when_overfitting_two_images():
    # Stage 2 proper: frozen backbone (random here, stage 1 would have trained it), the decoder
    # at the CPU config's width learns alone.
    torch.manual_seed(0)
    cfg = load_config_file(CPU_CONFIG, ["SCRATCHDET.DEYO.DIM_FEEDFORWARD", "128", "SCRATCHDET.DEYO.NUM_QUERIES", "20"])
    model = build_model(cfg)
    model.train()
    # AdamW, as DETR-style decoders are usually trained (SGD learns too, more noisily).
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    batch = _batch(cfg)
    losses = [_step(model, optimizer, batch) for _ in range(40)]
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.7 * first, losses


def test_denoising_queries_train():
    torch.manual_seed(0)
    cfg = _cfg("SCRATCHDET.DEYO.DENOISING.NUM_QUERIES", "12")
    model = build_model(cfg)
    model.train()
    losses = model(_batch(cfg))
    assert {"loss_class_dn", "loss_bbox_dn", "loss_giou_dn", "loss_class_dn_dec0"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())


def test_frozen_backbone_and_bn_statistics_are_bit_identical_after_training():
    torch.manual_seed(0)
    cfg = _cfg()
    model = build_model(cfg)
    before = _backbone_state(model)
    decoder_before = model.decoder.class_heads[-1].weight.detach().clone()
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert any("running_mean" in k for k in before)
    optimizer = build_optimizer(cfg, model)
    batch = _batch(cfg)
    for i in range(3):
        model.train()
        if i == 1:
            model.backbone.train()  # even when someone switches it back on directly
        _step(model, optimizer, batch)
        assert not model.backbone.training and model.decoder.training
    after = model.backbone.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(v, after[k])]
    assert not changed, changed
    assert not torch.equal(decoder_before, model.decoder.class_heads[-1].weight)


def test_unfrozen_backbone_does_train():
    # The same check is able to see a change: without freezing, BN statistics move.
    torch.manual_seed(0)
    cfg = _cfg("SCRATCHDET.FREEZE", "")
    model = build_model(cfg)
    before = _backbone_state(model)
    model.train()
    _step(model, build_optimizer(cfg, model), _batch(cfg))
    assert any(not torch.equal(v, model.backbone.state_dict()[k]) for k, v in before.items())


def test_loads_stage1_retinanet_backbone_by_name():
    cfg1 = _cfg("MODEL.META_ARCHITECTURE", "RetinaNet", "MODEL.RETINANET.NUM_CLASSES", "5")
    stage1 = build_model(cfg1).state_dict()
    model = build_model(_cfg())
    missing, unexpected = model.load_state_dict(stage1, strict=False)
    assert not [k for k in missing if k.startswith("backbone.")]
    assert all(k.startswith("head.") for k in unexpected), unexpected
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, stage1["backbone." + k])
    # Stage 1's box branch has stage 1's names too (stage 2 decodes its reference boxes with it).
    assert {k for k in model.state_dict() if k.startswith("head.")} <= set(stage1)
    assert any(k.startswith("head.bbox_subnet.") for k in model.state_dict())


def _forbid_nms(monkeypatch):
    import detectron2.layers

    # detectron2.layers.nms is also a function name, so fetch the module itself.
    d2_nms = importlib.import_module("detectron2.layers.nms")

    def boom(*args, **kwargs):
        raise AssertionError("NMS was called")

    monkeypatch.setattr(torch.ops.torchvision, "nms", boom)
    for module, name in [
        (torchvision.ops, "nms"),
        (torchvision.ops, "batched_nms"),
        (torchvision.ops.boxes, "nms"),
        (torchvision.ops.boxes, "batched_nms"),
        (detectron2.layers, "batched_nms"),
        (d2_nms, "batched_nms"),
    ]:
        monkeypatch.setattr(module, name, boom)


def test_inference_has_no_nms_and_rescales(monkeypatch):
    torch.manual_seed(0)
    cfg = _cfg()
    model = build_model(cfg)
    model.eval()
    batch = _batch(cfg)
    for x in batch:
        del x["instances"]
    _forbid_nms(monkeypatch)
    with torch.no_grad():
        out = model(batch)
        big = model([dict(x, height=256, width=256) for x in batch])
    inst = out[0]["instances"]
    assert len(inst) == cfg.TEST.DETECTIONS_PER_IMAGE
    assert inst.image_size == (128, 128) and inst.scores.shape == inst.pred_classes.shape == (len(inst),)
    assert (inst.scores[:-1] >= inst.scores[1:]).all() and inst.pred_classes.max() < 5
    torch.testing.assert_close(big[0]["instances"].pred_boxes.tensor, 2 * inst.pred_boxes.tensor)

    # The same patch does catch a detector that uses NMS (stage 1's RetinaNet).
    retina = build_model(_cfg("MODEL.META_ARCHITECTURE", "RetinaNet", "MODEL.RETINANET.NUM_CLASSES", "5")).eval()
    with pytest.raises(AssertionError, match="NMS was called"), torch.no_grad():
        retina(batch)


@pytest.mark.parametrize(
    "opts, key",
    [
        (["SCRATCHDET.DEYO.IN_FEATURES", "['p2', 'p3']"], "SCRATCHDET.DEYO.IN_FEATURES"),
        (["SCRATCHDET.DEYO.HIDDEN_DIM", "30"], "SCRATCHDET.DEYO.NUM_HEADS"),
        (["SCRATCHDET.DEYO.CLASS_LOSS", "ce"], "SCRATCHDET.DEYO.CLASS_LOSS"),
    ],
)
def test_bad_config_names_the_key(opts, key):
    with pytest.raises(ConfigError, match=key):
        build_model(_cfg(*opts))
