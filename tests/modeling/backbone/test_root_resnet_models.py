"""The Root-ResNet bases build a detector (R-CNN and RetinaNet) that trains a step and infers."""

import os

import pytest
import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

from scratchdet.config import load_config_file
from scratchdet.config.norm_policy import apply_norm_policy
from scratchdet.engine.setup.checks import check_run_config as check_config
from scratchdet.modeling.backbone.root_resnet import RootStem
from scratchdet.modeling.norm_policy import init_for_scratch
from tests.conftest import REPO

BASES = os.path.join(REPO, "projects", "ScratchDet", "configs")
TINY = [
    "MODEL.DEVICE", "cpu", "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.ROI_HEADS.NUM_CLASSES", "3",
    "MODEL.RETINANET.NUM_CLASSES", "3", "MODEL.RETINANET.NUM_CONVS", "1", "MODEL.ROI_BOX_HEAD.FC_DIM", "64",
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32", "MODEL.RPN.POST_NMS_TOPK_TRAIN", "64",
    "MODEL.RPN.POST_NMS_TOPK_TEST", "32", "SCRATCHDET.INIT.ZERO_INIT_RESIDUAL", "True",
]


def batch(n=2, size=64):
    g = torch.Generator().manual_seed(0)
    inputs = []
    for _ in range(n):
        inst = Instances((size, size))
        inst.gt_boxes = Boxes(torch.tensor([[4.0, 6.0, 30.0, 40.0], [20.0, 10.0, 60.0, 50.0]]))
        inst.gt_classes = torch.tensor([0, 2])
        image = torch.randint(0, 255, (3, size, size), generator=g, dtype=torch.uint8)
        inputs.append({"image": image, "instances": inst, "height": size, "width": size})
    return inputs


@pytest.mark.parametrize("base", ["Base-RCNN-RootResNet-FPN.yaml", "Base-RetinaNet-RootResNet-FPN.yaml"])
def test_base_trains_a_step_and_infers(base):
    cfg = load_config_file(os.path.join(BASES, base), TINY)
    check_config(cfg)
    cfg = apply_norm_policy(cfg)
    torch.manual_seed(0)
    model = init_for_scratch(build_model(cfg), cfg)
    assert isinstance(model.backbone.bottom_up.stem, RootStem)
    assert all(p.requires_grad for p in model.parameters())  # FREEZE_AT 0: nothing frozen
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    with EventStorage():
        losses = model(batch())
    total = sum(losses.values())
    assert torch.isfinite(total), losses
    total.backward()
    # The root stem's convs get a gradient.
    assert model.backbone.bottom_up.stem.conv1.weight.grad.abs().sum() > 0
    opt.step()
    model.eval()
    with torch.no_grad():
        out = model(batch(1))
    inst = out[0]["instances"]
    assert inst.image_size == (64, 64) and inst.pred_boxes.tensor.shape[1] == 4
