"""ScratchDetSSD: it learns on shapes images, its inference output is detectron2's, its head norm
follows MODEL.SSD.HEAD_NORM / SCRATCHDET.NORM.ALL, and bad configs say which key to set."""

import os

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from torch import nn

from scratchdet.config import ConfigError, load_config_file
from scratchdet.data.mappers import SSDMapper
from scratchdet.engine import Trainer
from scratchdet.engine.setup.checks import check_run_config as check_config
from scratchdet.modeling.meta_arch.scratchdet_ssd import ScratchDetSSD
from scratchdet.modeling.needs import config_needs

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CPU_CONFIG = os.path.join(REPO, "projects", "ScratchDet", "configs", "scratchdet_rootres18_shapes_cpu.yaml")
# 64 px: levels 16, 8, 4 (res3..res5) + extras 2, 1; no random augmentation, so steps repeat.
TINY = [
    "MODEL.SSD.IMAGE_SIZE", "64", "MODEL.SSD.EXTRA_CHANNELS", "[32, 32]",
    "MODEL.SSD.SCALES", "[0.1, 0.25, 0.45, 0.65, 0.85, 1.0]", "MODEL.SSD.ASPECT_RATIOS", "[[2.0]]",
    "INPUT.SSD.PHOTOMETRIC_PROB", "0.0", "INPUT.SSD.EXPAND_PROB", "0.0", "INPUT.SSD.CROP_MIN_IOUS", "[]",
    "INPUT.RANDOM_FLIP", "none", "TEST.DETECTIONS_PER_IMAGE", "20",
]


def _cfg(*opts):
    return load_config_file(CPU_CONFIG, TINY + list(opts))


def _batch(cfg, n=2):
    mapper = SSDMapper(cfg, is_train=True)
    return [mapper(d) for d in DatasetCatalog.get("shapes_train")[:n]]


def test_loss_finite_and_decreasing():
    torch.manual_seed(0)
    cfg = _cfg()
    model = build_model(cfg).train()
    assert isinstance(model, ScratchDetSSD)
    batch = _batch(cfg)
    assert all(len(x["instances"]) > 0 for x in batch)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    totals = []
    for _ in range(20):
        losses = model(batch)
        assert set(losses) == {"loss_cls", "loss_box_reg"}
        total = sum(losses.values())
        assert torch.isfinite(total), losses
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(total.item())
    assert sum(totals[-5:]) / 5 < 0.6 * sum(totals[:5]) / 5, totals


def test_inference_format_and_rescaling():
    torch.manual_seed(0)
    cfg = _cfg("MODEL.SSD.SCORE_THRESH_TEST", "0.0")
    model = build_model(cfg).eval()
    inputs = [
        {"image": torch.randint(0, 255, (3, 64, 64)).float(), "height": 128, "width": 256},
        {"image": torch.randint(0, 255, (3, 48, 40)).float()},  # smaller: padded to 64, no resize
    ]
    with torch.no_grad():
        out = model(inputs)
    assert len(out) == 2
    inst = out[0]["instances"]
    assert isinstance(inst, Instances) and inst.image_size == (128, 256)
    assert isinstance(inst.pred_boxes, Boxes) and inst.scores.dim() == 1 and inst.pred_classes.dtype == torch.int64
    assert 0 < len(inst) <= 20
    assert inst.pred_classes.min() >= 0 and inst.pred_classes.max() < 5
    assert (inst.scores[:-1] >= inst.scores[1:]).all()  # NMS keeps them sorted by score
    b = inst.pred_boxes.tensor  # clipped to the 64x64 input, then scaled x4 (x) and x2 (y)
    assert b[:, 0].min() >= 0 and b[:, 2].max() <= 256 and b[:, 3].max() <= 128
    assert out[1]["instances"].image_size == (48, 40)
    b = out[1]["instances"].pred_boxes.tensor
    assert b[:, 2].max() <= 40 and b[:, 3].max() <= 48


def test_per_class_nms():
    model = build_model(_cfg()).eval()
    model.score_thresh_test, model.nms_thresh_test = 0.1, 0.5
    # Three default boxes: 0 and 1 overlap (IoU 0.81), 2 elsewhere. Class 0 is high on 0 and 1
    # (NMS keeps 0), class 1 is high on 1: different classes are not suppressed by each other.
    default = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.5, 0.5, 10.5, 10.5], [30.0, 30.0, 40.0, 40.0]])
    logits = torch.full((3, 6), -10.0)
    logits[0, 0] = logits[1, 0] = 5.0
    logits[1, 1] = 6.0
    logits[2, 5] = 10.0  # background
    r = model.inference_single_image(logits, torch.zeros(3, 4), default, (64, 64))
    assert sorted(zip(r.pred_classes.tolist(), r.pred_boxes.tensor[:, 0].tolist())) == [(0, 0.0), (1, 0.5)]


def _norms(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]


def test_head_norm_options():
    with_bn = build_model(_cfg())
    assert len(_norms(with_bn.head)) == 2 * 5  # cls + box per level
    no_bn = build_model(_cfg("MODEL.SSD.HEAD_NORM", ""))
    assert _norms(no_bn.head) == [] and no_bn.head.levels[0].cls_score.bias is not None
    assert _norms(no_bn.backbone) and _norms(no_bn.extra_layers)  # "BN in backbone only"
    # SCRATCHDET.NORM.ALL covers the head too (through register_norm_key).
    cfg = Trainer.build_model(_cfg("MODEL.SSD.HEAD_NORM", "", "SCRATCHDET.NORM.ALL", "BN"))
    assert len(_norms(cfg.head)) == 2 * 5


def test_config_errors():
    with pytest.raises(ConfigError, match="MODEL.SSD.SCALES has 6 values but there are 6 levels"):
        build_model(_cfg("MODEL.SSD.EXTRA_CHANNELS", "[32, 32, 32]"))
    with pytest.raises(ConfigError, match="MODEL.SSD.ASPECT_RATIOS has 2 lists"):
        build_model(_cfg("MODEL.SSD.ASPECT_RATIOS", "[[2.0], [2.0]]"))
    # check_config names the key when IN_FEATURES asks for a feature the backbone does not output.
    with pytest.raises(ConfigError, match=r"MODEL.SSD.IN_FEATURES=\['res2', 'res3'\] uses \['res2'\]"):
        check_config(_cfg("MODEL.SSD.IN_FEATURES", "['res2', 'res3']"), training=False)


def test_num_classes_key_is_checked_against_the_dataset():
    assert config_needs(_cfg()).num_classes_key == "MODEL.SSD.NUM_CLASSES"
    with pytest.raises(ConfigError, match="set MODEL.SSD.NUM_CLASSES 5"):
        Trainer.build_train_loader(_cfg("MODEL.SSD.NUM_CLASSES", "4", "DATALOADER.NUM_WORKERS", "0"))
