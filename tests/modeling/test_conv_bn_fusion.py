"""fuse_conv_bn (SCRATCHDET.TEST.FUSE_CONV_BN): BatchNorm folded into detectron2's Conv2d gives the
unfused model's eval outputs, on a copy (the model itself keeps its norms and its mode); other
norms are left alone; on the demo's BN-everywhere Mask R-CNN no BatchNorm is left."""

import pytest
import torch
from detectron2.engine import DefaultTrainer
from detectron2.layers import Conv2d, FrozenBatchNorm2d, NaiveSyncBatchNorm
from detectron2.modeling import build_model
from detectron2.structures import Boxes
from torch import nn
from torch.nn import functional as F

from scratchdet.modeling.conv_bn_fusion import fuse_conv_bn

BN_TYPES = (nn.BatchNorm2d, nn.SyncBatchNorm, FrozenBatchNorm2d)


def _randomize_bn(bn: nn.Module, g: torch.Generator) -> None:
    """Non-trivial statistics and affine parameters (a fresh BN is the identity at eval)."""
    c = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
        bn.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
        bn.weight.copy_(torch.rand(c, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(c, generator=g) * 0.3)


def _n_bn(model: nn.Module) -> int:
    return sum(isinstance(m, BN_TYPES) for m in model.modules())


@pytest.mark.parametrize("norm_cls", [nn.BatchNorm2d, NaiveSyncBatchNorm, nn.SyncBatchNorm, FrozenBatchNorm2d])
@pytest.mark.parametrize("bias", [False, True])
def test_fused_conv_equals_conv_then_bn(norm_cls, bias):
    g = torch.Generator().manual_seed(0)
    conv = Conv2d(8, 16, 3, padding=1, stride=2, bias=bias, norm=norm_cls(16), activation=F.relu)
    _randomize_bn(conv.norm, g)
    conv.train()
    fused = fuse_conv_bn(conv)
    # the copy is fused and in eval mode; the original keeps its norm, parameters and mode
    assert fused is not conv and fused.norm is None and not fused.training
    assert fused.bias is not None and fused.activation is F.relu
    assert isinstance(conv.norm, norm_cls) and conv.training
    x = torch.randn(2, 8, 17, 19, generator=g)
    conv.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(x), conv(x), atol=1e-5, rtol=1e-5)


def test_float64_weights_keep_their_dtype():
    g = torch.Generator().manual_seed(1)
    conv = Conv2d(4, 6, 1, bias=False, norm=nn.BatchNorm2d(6)).double()
    _randomize_bn(conv.norm, g)
    fused = fuse_conv_bn(conv)
    assert fused.weight.dtype == fused.bias.dtype == torch.float64
    x = torch.randn(1, 4, 5, 5, generator=g, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), conv.eval()(x), atol=1e-10, rtol=1e-10)


def test_other_norms_are_left_alone():
    model = nn.Sequential(
        Conv2d(4, 8, 3, padding=1, norm=nn.GroupNorm(2, 8)),
        Conv2d(8, 8, 3, padding=1, bias=True),  # no norm
        # batch statistics even at eval: not a fixed affine map, so not foldable
        Conv2d(8, 8, 1, norm=nn.BatchNorm2d(8, track_running_stats=False)),
    )
    fused = fuse_conv_bn(model)
    assert isinstance(fused[0].norm, nn.GroupNorm) and fused[1].norm is None
    assert isinstance(fused[2].norm, nn.BatchNorm2d)
    for a, b in zip(model.state_dict().values(), fused.state_dict().values()):
        assert torch.equal(a, b)


def test_demo_model_fused_features_and_box_head_equal(tiny_cfg):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = build_model(tiny_cfg())  # the demo: Mask R-CNN R18-FPN, BN in backbone, FPN, box and mask heads
    n_bn = _n_bn(model)
    assert n_bn > 20
    # Backbone and FPN statistics from a batch (momentum None: their plain average), so that the
    # activations keep a sane scale; the heads' statistics and every affine parameter random.
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = None
    model.train()
    with torch.no_grad():
        model.backbone(torch.randn(2, 3, 96, 128, generator=g))
    for bn in bns:
        stats = (bn.running_mean.clone(), bn.running_var.clone()) if bn.num_batches_tracked > 0 else None
        _randomize_bn(bn, g)
        if stats is not None:
            bn.running_mean.copy_(stats[0])
            bn.running_var.copy_(stats[1])
    model.eval()
    fused = fuse_conv_bn(model)
    assert _n_bn(fused) == 0 and _n_bn(model) == n_bn

    x = torch.randn(1, 3, 96, 128, generator=g)
    boxes = [Boxes(torch.tensor([[4.0, 4.0, 60.0, 50.0], [20.0, 10.0, 90.0, 80.0], [0.0, 0.0, 128.0, 96.0]]))]
    with torch.no_grad():
        ref, out = model.backbone(x), fused.backbone(x)
        assert ref.keys() == out.keys()
        for k in ref:
            torch.testing.assert_close(out[k], ref[k], atol=1e-4, rtol=1e-4)
        # the box head (convs with BN) on the same pooled features
        pooled = model.roi_heads.box_pooler([ref[f] for f in model.roi_heads.box_in_features], boxes)
        torch.testing.assert_close(fused.roi_heads.box_head(pooled), model.roi_heads.box_head(pooled),
                                   atol=1e-4, rtol=1e-4)
        # the whole fused detector runs on an image dict
        image = torch.randint(0, 255, (3, 96, 128), generator=g, dtype=torch.uint8)
        (pred,) = fused([{"image": image, "height": 96, "width": 128}])
    assert pred["instances"].image_size == (96, 128)


def test_trainer_test_evaluates_a_fused_copy(tiny_cfg, monkeypatch):
    from scratchdet.engine import Trainer

    seen = []
    monkeypatch.setattr(DefaultTrainer, "test", classmethod(lambda cls, cfg, model, evaluators=None: seen.append(model) or {}))
    model = Trainer.build_model(tiny_cfg("MODEL.MASK_ON", "False"))
    Trainer.test(tiny_cfg("MODEL.MASK_ON", "False"), model)
    assert seen == [model]  # off by default
    Trainer.test(tiny_cfg("MODEL.MASK_ON", "False", "SCRATCHDET.TEST.FUSE_CONV_BN", "True"), model)
    assert seen[1] is not model and _n_bn(seen[1]) == 0 and _n_bn(model) > 0 and model.training
