"""Jigsaw soft labels and losses, with exact values."""

import math

import torch
import torch.nn.functional as F

from scratchdet.modeling.jigsaw_labels import (
    area_weights,
    dense_loss,
    erf_weights,
    global_mix_loss,
    own_cells,
    position_centers,
    soft_targets,
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
