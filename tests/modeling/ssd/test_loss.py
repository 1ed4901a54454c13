"""Hard-negative mining (3:1), targets (SSD encoding) and the loss on hand-made cases."""

import torch
from detectron2.modeling.box_regression import Box2BoxTransform
from detectron2.structures import Boxes, Instances

from scratchdet.modeling.ssd import hard_negative_mask, ssd_losses, ssd_targets


def test_hard_negatives_three_per_positive():
    loss = torch.tensor([[0.1, 5.0, 0.2, 0.3, 0.9, 0.8, 0.7, 0.05, 9.0, 0.4]])
    positive = torch.zeros(1, 10, dtype=torch.bool)
    positive[0, 8] = True  # the highest loss is a positive: never picked as a negative
    neg = hard_negative_mask(loss, positive, 3.0)
    assert neg.sum() == 3
    assert neg[0].nonzero().flatten().tolist() == [1, 4, 5]  # losses 5.0, 0.9, 0.8


def test_hard_negatives_per_image_and_limits():
    loss = torch.arange(12.0).view(2, 6)
    positive = torch.tensor([[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=torch.bool)
    neg = hard_negative_mask(loss, positive, 3.0)
    # Image 0: 2 positives -> 6 wanted, only 4 negatives exist. Image 1: no positive -> 3 (at least ratio).
    assert neg[0].tolist() == [False, False, True, True, True, True]
    assert neg[1].tolist() == [False, False, False, True, True, True]


def test_targets_use_ssd_variances():
    default = Boxes(torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 40.0], [50.0, 50.0, 60.0, 60.0]]))
    inst = Instances((64, 64))
    inst.gt_boxes = Boxes(torch.tensor([[1.0, 0.0, 11.0, 10.0], [20.0, 20.0, 40.0, 50.0]]))
    inst.gt_classes = torch.tensor([3, 1])
    cls, deltas = ssd_targets(default, [inst], num_classes=5, box2box_transform=Box2BoxTransform((10, 10, 5, 5)))
    assert cls.tolist() == [[3, 1, 5]]  # the third box is background (class 5)
    # Box 0: centre shifted by 1 px on a 10 px box -> dx = 0.1 / 0.1 = 1. Box 1: height 20 -> 30,
    # centre +5 px: dy = (5 / 20) / 0.1 = 2.5, dh = log(1.5) / 0.2.
    torch.testing.assert_close(deltas[0, 0], torch.tensor([1.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(deltas[0, 1], torch.tensor([0.0, 2.5, 0.0, torch.log(torch.tensor(1.5)).item() / 0.2]))
    assert deltas[0, 2].abs().sum() == 0


def test_loss_values():
    # One image, 5 boxes, 2 classes (+ background index 2): box 0 positive (class 1).
    logits = torch.zeros(1, 5, 3)
    logits[0, 1, 0] = 3.0  # the hardest negatives are boxes 1..3 in this order
    logits[0, 2, 0] = 2.0
    logits[0, 3, 0] = 1.0
    gt_classes = torch.tensor([[1, 2, 2, 2, 2]])
    gt_deltas = torch.zeros(1, 5, 4)
    gt_deltas[0, 0] = torch.tensor([0.5, 0.0, 0.0, 2.0])
    out = ssd_losses(logits, torch.zeros(1, 5, 4), gt_classes, gt_deltas, neg_pos_ratio=3.0, smooth_l1_beta=1.0)
    ce = torch.nn.functional.cross_entropy(logits[0, :4], gt_classes[0, :4], reduction="sum")
    torch.testing.assert_close(out["loss_cls"], ce)  # box 4 (easy negative) is left out; N = 1
    torch.testing.assert_close(out["loss_box_reg"], torch.tensor(0.5 * 0.5**2 + (2.0 - 0.5)))


def test_loss_without_objects_is_finite():
    out = ssd_losses(torch.randn(2, 7, 4, requires_grad=True), torch.randn(2, 7, 4), torch.full((2, 7), 3),
                     torch.zeros(2, 7, 4))
    assert torch.isfinite(out["loss_cls"]) and out["loss_box_reg"] == 0
