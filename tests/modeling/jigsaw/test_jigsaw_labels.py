"""Jigsaw soft labels and losses, with exact values."""

import math

import torch
import torch.nn.functional as F

from scratchdet.modeling.jigsaw.erf import integral_maps, rect_mass
from scratchdet.modeling.jigsaw.labels import (
    area_weights,
    block_loss,
    cell_accuracy,
    dense_loss,
    erf_weights,
    global_mix_loss,
    own_cells,
    position_centers,
    soft_targets,
    target_entropy,
)

CELLS = torch.tensor([[[0.0, 0, 16, 16], [16, 0, 64, 16], [0, 16, 16, 64], [16, 16, 64, 64]]])


def test_positions_and_their_own_cells():
    centers = position_centers((2, 2), (64, 64))
    assert centers.tolist() == [[16, 16], [48, 16], [16, 48], [48, 48]]
    split20 = torch.tensor([[[0.0, 0, 20, 20], [20, 0, 64, 20], [0, 20, 20, 64], [20, 20, 64, 64]]])
    assert own_cells(split20, centers)[0].long().tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    # centres on a cell border: half-open boxes put them in the right / lower cell
    assert own_cells(CELLS, centers)[0].long().tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]


def test_erf_weights_raise_the_own_cell_to_tau_and_sum_to_one():
    shares = torch.tensor([[[0.1], [0.6], [0.2], [0.1]]])
    own = torch.tensor([[[True], [False], [False], [False]]])
    w = erf_weights(shares, own, tau=0.5)[0, :, 0]
    torch.testing.assert_close(w, torch.tensor([0.5, 0.6 * 5 / 9, 0.2 * 5 / 9, 0.1 * 5 / 9]))
    kept = erf_weights(shares * 2, ~own & torch.tensor([False, True, False, False])[None, :, None], tau=0.5)
    torch.testing.assert_close(kept[0, :, 0], torch.tensor([0.1, 0.6, 0.2, 0.1]))  # 0.6 >= tau: unchanged


def test_erf_weights_on_random_shares():
    torch.manual_seed(0)
    shares = torch.rand(3, 4, 50)
    own = F.one_hot(torch.randint(4, (3, 50)), 4).permute(0, 2, 1).bool()
    for tau in (0.0, 0.3, 0.7, 1.0):
        w = erf_weights(shares, own, tau)
        torch.testing.assert_close(w.sum(1), torch.ones(3, 50))
        assert (w[own] >= tau - 1e-6).all() and (w >= 0).all()
        others = w.masked_fill(own, 0) / shares.masked_fill(own, 0).clamp_min(1e-9)
        # the other cells keep their relative shares
        ratio = others.masked_fill(own, float("nan"))
        assert torch.allclose(ratio.nanmean(1, keepdim=True).expand_as(ratio)[~own], ratio[~own], atol=1e-4)


def test_dense_loss_averages_within_cells_then_over_cells():
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]]])  # (N=1, K=2, P=3)
    targets = torch.tensor([[[1.0, 0.0, 0.25], [0.0, 1.0, 0.75]]])
    own = torch.tensor([[[True, True, False], [False, False, True], [False] * 3, [False] * 3]])
    logp = F.log_softmax(logits, 1)[0]
    ce = [-(logp[0, 0]), -(logp[1, 1]), -(0.25 * logp[0, 2] + 0.75 * logp[1, 2])]
    expected = ((ce[0] + ce[1]) / 2 + ce[2]) / 2  # cells without positions are left out
    torch.testing.assert_close(dense_loss(logits, targets, own), expected)


def test_soft_targets_and_global_mix():
    weights = torch.tensor([[[0.5], [0.25], [0.25], [0.0]]])
    t = soft_targets(weights, torch.tensor([[2, 0, 2, 1]]), 3)
    assert t[0, :, 0].tolist() == [0.25, 0.0, 0.75]
    area = area_weights(CELLS)
    assert area.tolist() == [[256 / 4096, 768 / 4096, 768 / 4096, 2304 / 4096]]
    logits = torch.zeros(1, 3, 4)
    loss = global_mix_loss(logits, CELLS, torch.tensor([[0, 1, 1, 2]]))
    assert math.isclose(float(loss), math.log(3), rel_tol=1e-6)  # uniform prediction: log K whatever the mix
    logits[0, 2] = 5.0
    p = F.log_softmax(torch.tensor([0.0, 0, 5]), 0)
    expected = -(area[0, 0] * p[0] + (area[0, 1] + area[0, 2]) * p[1] + area[0, 3] * p[2])
    torch.testing.assert_close(global_mix_loss(logits, CELLS, torch.tensor([[0, 1, 1, 2]])), expected)


def test_erf_labels_follow_the_papers_equation_2_on_a_hand_computed_case():
    # 4x4 canvas split at x=1, y=1: cells 0 [0,0,1,1], 1 [1,0,4,1], 2 [0,1,1,4], 3 [1,1,4,4]
    cells = torch.tensor([[[0.0, 0, 1, 1], [1, 0, 4, 1], [0, 1, 1, 4], [1, 1, 4, 4]]])
    # ERF G of two positions, as pixel weights (not normalised): masses per cell
    # position a: cell0 1, cell1 3, cell2 4, cell3 12 (sum 20); position b: 0, 1, 1, 8 (sum 10)
    ga = torch.tensor([[1.0, 1, 1, 1], [1, 2, 2, 2], [1, 1, 1, 1], [2, 2, 1, 0]])
    gb = torch.tensor([[0.0, 1, 0, 0], [0, 4, 0, 0], [1, 0, 4, 0], [0, 0, 0, 0]])
    shares = rect_mass(integral_maps(torch.stack([ga, gb])), cells)  # (1, 4, 2)
    assert shares[0].T.tolist() == [[1, 3, 4, 12], [0, 1, 1, 8]]
    own = own_cells(cells, torch.tensor([[3.0, 3.0], [2.5, 2.5]]))  # both centres lie in cell 3
    w = erf_weights(shares, own, tau=0.7)[0].T
    # Eq. (2), r = 3: w_3 = max(0.7, 12/20) = 0.7; w_i = 0.3 * G_i / (1 + 3 + 4)
    torch.testing.assert_close(w[0], torch.tensor([0.3 / 8, 0.9 / 8, 1.2 / 8, 0.7]))
    # b: w_3 = max(0.7, 8/10) = 0.8; w_i = 0.2 * G_i / (0 + 1 + 1)
    torch.testing.assert_close(w[1], torch.tensor([0.0, 0.1, 0.1, 0.8]))
    # Eq. (1) with labels (0, 2, 2, 1) over K = 3: y~ = sum_i w_i y_i
    t = soft_targets(w.T[None], torch.tensor([[0, 2, 2, 1]]), 3)[0].T
    torch.testing.assert_close(t, torch.tensor([[0.0375, 0.7, 0.2625], [0.0, 0.8, 0.2]]))
    # the loss floor: entropy of the targets, averaged over cell 3's two positions
    h = [-(0.0375 * math.log(0.0375) + 0.7 * math.log(0.7) + 0.2625 * math.log(0.2625)),
         -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))]
    assert math.isclose(float(target_entropy(t.T[None], own)), sum(h) / 2, rel_tol=1e-6)
    # the soft cross-entropy of a prediction equal to its target is exactly that floor
    logits = t.T[None].clamp_min(1e-12).log()
    assert math.isclose(float(dense_loss(logits, t.T[None], own)), sum(h) / 2, rel_tol=1e-5)


def test_block_loss_classifies_each_cells_pooled_logits_once():
    logits = torch.tensor([[[2.0, 0.0, -1.0, 4.0], [0.0, 1.0, 3.0, 0.0]]])  # (N=1, K=2, P=4)
    own = torch.tensor([[[True, True, False, False], [False, False, True, True], [False] * 4, [False] * 4]])
    labels = torch.tensor([[1, 0, 1, 1]])
    # cell 0: mean logits (1, 0.5), label 1; cell 1: mean logits (1.5, 1.5), label 0
    pooled = torch.tensor([[1.0, 0.5], [1.5, 1.5]])
    expected = F.cross_entropy(pooled, torch.tensor([1, 0]))
    torch.testing.assert_close(block_loss(logits, own, labels), expected)
    # not the mean of per-position losses
    per_pos = (F.cross_entropy(logits[0, :, :2].T, torch.tensor([1, 1])) + F.cross_entropy(logits[0, :, 2:].T, torch.tensor([0, 0]))) / 2
    assert not torch.isclose(block_loss(logits, own, labels), per_pos)
    # accuracy by mean probability per cell: cell 0 -> class 0 (wrong), cell 1 -> tie (0, right)
    assert cell_accuracy(logits, own, labels) == (1, 2)


def test_entropy_floor_of_hard_and_uniform_targets():
    own = torch.ones(1, 4, 2, dtype=torch.bool)
    hard = F.one_hot(torch.tensor([[1, 2]]), 4).permute(0, 2, 1).float()
    assert float(target_entropy(hard, own)) == 0.0
    uniform = torch.full((1, 6, 2), 1 / 6)
    assert math.isclose(float(target_entropy(uniform, own)), math.log(6), rel_tol=1e-6)
    assert math.isclose(float(target_entropy(torch.tensor([[0.5, 0.5]]))), math.log(2), rel_tol=1e-6)
