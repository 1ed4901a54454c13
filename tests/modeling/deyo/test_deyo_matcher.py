"""The Hungarian matcher finds the optimal one-to-one assignment on hand-made cases."""

import itertools

import torch

from scratchdet.modeling.deyo import HungarianMatcher


def _pairs(indices):
    q, g = indices
    return sorted(zip(q.tolist(), g.tolist()))


def _box(cx, cy=0.5, w=0.1, h=0.1):
    return [cx, cy, w, h]


def test_exact_boxes_are_matched_to_their_ground_truth():
    m = HungarianMatcher(cost_class=0.0, cost_bbox=5.0, cost_giou=2.0)
    boxes = torch.tensor([[_box(0.8), _box(0.1, 0.1), _box(0.3)]])
    logits = torch.zeros(1, 3, 2)
    targets = [{"labels": torch.tensor([0, 1]), "boxes": torch.tensor([_box(0.3), _box(0.8)])}]
    assert _pairs(m(logits, boxes, targets)[0]) == [(0, 1), (2, 0)]


def test_optimum_beats_the_greedy_choice():
    # L1 only, boxes on a line. Greedy (cheapest pair first) takes q0-g0 (0.05) then q1-g1 (0.22),
    # 0.27 in all; the optimum is q0-g1 (0.10) + q1-g0 (0.07) = 0.17.
    m = HungarianMatcher(cost_class=0.0, cost_bbox=1.0, cost_giou=0.0)
    boxes = torch.tensor([[_box(0.40), _box(0.52)]])
    targets = [{"labels": torch.tensor([0, 0]), "boxes": torch.tensor([_box(0.45), _box(0.30)])}]
    assert _pairs(m(torch.zeros(1, 2, 1), boxes, targets)[0]) == [(0, 1), (1, 0)]


def test_class_cost_picks_the_query_confident_in_the_right_class():
    m = HungarianMatcher(cost_class=2.0, cost_bbox=5.0, cost_giou=2.0)
    boxes = torch.tensor([[_box(0.5), _box(0.5), _box(0.5)]])
    logits = torch.full((1, 3, 3), -4.0)
    logits[0, 1, 2] = 4.0  # query 1 is sure of class 2
    logits[0, 2, 0] = 4.0  # query 2 is sure of another class
    targets = [{"labels": torch.tensor([2]), "boxes": torch.tensor([_box(0.5)])}]
    assert _pairs(m(logits, boxes, targets)[0]) == [(1, 0)]


def test_assignment_is_optimal_against_brute_force():
    torch.manual_seed(0)
    m = HungarianMatcher()
    q, g, k = 5, 3, 4
    logits = torch.randn(1, q, k)
    boxes = torch.cat([torch.rand(1, q, 2) * 0.6 + 0.2, torch.rand(1, q, 2) * 0.3 + 0.05], -1)
    tgt = {"labels": torch.randint(0, k, (g,)), "boxes": torch.cat([torch.rand(g, 2) * 0.6 + 0.2, torch.rand(g, 2) * 0.3 + 0.05], -1)}
    cost = m.cost_matrix(logits[0], boxes[0], tgt["labels"], tgt["boxes"])
    best = min(sum(cost[perm[j], j].item() for j in range(g)) for perm in itertools.permutations(range(q), g))
    rows, cols = m(logits, boxes, [tgt])[0]
    assert len(set(rows.tolist())) == g and sorted(cols.tolist()) == list(range(g))
    assert abs(cost[rows, cols].sum().item() - best) < 1e-5


def test_batch_with_an_empty_image():
    m = HungarianMatcher()
    boxes = torch.rand(2, 4, 2).repeat(1, 1, 2) * 0.5 + 0.1
    targets = [
        {"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)},
        {"labels": torch.tensor([1, 0]), "boxes": boxes[1, :2].clone()},
    ]
    out = m(torch.zeros(2, 4, 2), boxes, targets)
    assert len(out[0][0]) == 0 and len(out[0][1]) == 0
    assert len(out[1][0]) == 2 and sorted(out[1][1].tolist()) == [0, 1]
