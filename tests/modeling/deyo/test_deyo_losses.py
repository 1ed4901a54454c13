"""DEYO's losses and denoising queries."""

import pytest
import torch

from scratchdet.modeling.deyo import DenoisingQueries, DEYOCriterion, HungarianMatcher

TARGETS = [
    {"labels": torch.tensor([1, 0]), "boxes": torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.6, 0.3, 0.1]])},
    {"labels": torch.tensor([2]), "boxes": torch.tensor([[0.5, 0.5, 0.4, 0.4]])},
]


def _outputs(perfect: bool):
    torch.manual_seed(0)
    logits = torch.full((2, 4, 3), -8.0)
    boxes = torch.tensor([0.5, 0.5, 0.1, 0.1]).repeat(2, 4, 1)
    if perfect:
        for i, t in enumerate(TARGETS):
            for j, (c, b) in enumerate(zip(t["labels"], t["boxes"])):
                logits[i, j, c] = 8.0
                boxes[i, j] = b
    return logits, boxes


@pytest.mark.parametrize("class_loss", ["focal", "varifocal"])
def test_perfect_prediction_costs_less(class_loss):
    crit = DEYOCriterion(3, HungarianMatcher(), class_loss=class_loss)
    good = crit(*[t[None] for t in _outputs(True)], *_outputs(True), TARGETS)
    bad = crit(*[t[None] for t in _outputs(False)], *_outputs(False), TARGETS)
    assert {"loss_class", "loss_bbox", "loss_giou", "loss_class_enc", "loss_giou_enc"} <= set(good)
    assert good["loss_bbox"] < 1e-4 and good["loss_giou"] < 1e-4
    for k in ("loss_class", "loss_bbox", "loss_giou"):
        assert good[k] < bad[k]


def test_aux_losses_for_every_decoder_layer_and_no_box_batch():
    crit = DEYOCriterion(3, HungarianMatcher())
    logits = torch.randn(3, 2, 4, 3, requires_grad=True)
    boxes = torch.rand(3, 2, 4, 4).clamp(0.05, 0.9).requires_grad_()
    out = crit(logits, boxes, logits[0], boxes[0], TARGETS)
    assert {"loss_class_dec0", "loss_class_dec1", "loss_class"} <= set(out) and "loss_class_dec2" not in out
    empty = [{"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)}] * 2
    out = crit(logits, boxes, logits[0], boxes[0], empty)
    total = sum(out.values())
    assert torch.isfinite(total)
    total.backward()


def test_denoising_group_structure():
    torch.manual_seed(0)
    dn = DenoisingQueries(num_classes=3, hidden_dim=8, num_denoising=8, label_noise_ratio=0.0)
    g = dn(TARGETS, num_queries=5)
    max_gt, groups = 2, 4
    num_dn = 2 * max_gt * groups
    assert g.num_groups == groups and g.content.shape == (2, num_dn, 8) and g.attn_mask.shape == (num_dn + 5, num_dn + 5)
    # Ordinary queries never see denoising queries; groups never see each other; a group sees itself.
    assert g.attn_mask[num_dn:, :num_dn].all() and not g.attn_mask[num_dn:, num_dn:].any()
    assert g.attn_mask[0, 4:num_dn].all() and not g.attn_mask[0, :4].any()
    assert not g.attn_mask[:num_dn, num_dn:].any()
    # Positives keep their label (no label noise here) and their centre inside the ground truth.
    for i, t in enumerate(TARGETS):
        q, gt = g.positive_indices[i]
        assert len(q) == groups * len(t["labels"])
        torch.testing.assert_close(g.content[i, q], dn.label_embed(t["labels"][gt]))
        c, b = g.reference_boxes[i, q, :2], t["boxes"][gt]
        assert ((c - b[:, :2]).abs() <= b[:, 2:] / 2 + 1e-6).all()
    assert dn([{"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)}], 5) is None
