import pytest
import torch
from detectron2.layers import FrozenBatchNorm2d
from detectron2.modeling import build_model

from scratchdet.config import ConfigError, load_config_file
from scratchdet.modeling.freeze import freeze_part
from tests.conftest import DEMO_CONFIG


def _model():
    return build_model(load_config_file(DEMO_CONFIG, ["MODEL.MASK_ON", "False"]))


@pytest.mark.parametrize("what,frozen_prefix,trainable_prefix", [
    ("backbone", "backbone.bottom_up.", "backbone.fpn_"),
    ("backbone+neck", "backbone.", "proposal_generator."),
])
def test_freeze_weights_and_bn_statistics(what, frozen_prefix, trainable_prefix):
    model = _model()
    freeze_part(model, what)
    params = dict(model.named_parameters())
    assert all(not p.requires_grad for k, p in params.items() if k.startswith(frozen_prefix))
    assert all(p.requires_grad for k, p in params.items() if k.startswith(trainable_prefix))
    frozen_norms = [m for k, m in model.named_modules() if k.startswith(frozen_prefix) and k.endswith("norm")]
    assert frozen_norms and all(isinstance(m, FrozenBatchNorm2d) for m in frozen_norms)
    # statistics do not move in training mode
    before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(frozen_prefix)}
    model.train()
    x = torch.rand(3, 128, 128) * 255
    from detectron2.structures import Boxes, Instances
    from detectron2.utils.events import EventStorage

    inst = Instances((128, 128), gt_boxes=Boxes(torch.tensor([[10.0, 10, 60, 60]])), gt_classes=torch.tensor([1]))
    with EventStorage():
        model([{"image": x, "instances": inst}])
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())


def test_unknown_freeze_value():
    with pytest.raises(ConfigError, match="SCRATCHDET.FREEZE='heads'"):
        freeze_part(_model(), "heads")
