"""SSD matching on hand-made IoU matrices: threshold, best-box forcing, conflicts."""

import torch

from scratchdet.modeling.ssd import BACKGROUND, match_default_boxes


def test_threshold_and_argmax():
    iou = torch.tensor([
        [0.6, 0.2, 0.5, 0.0, 0.3],
        [0.1, 0.7, 0.55, 0.0, 0.1],
    ])
    # Box 2 overlaps gt 1 most (0.55 >= 0.5); box 4 reaches 0.3 only; box 3 nothing.
    assert match_default_boxes(iou, 0.5).tolist() == [0, 1, 1, BACKGROUND, BACKGROUND]


def test_every_gt_gets_its_best_box():
    # gt 1 overlaps nothing by 0.5 but gets box 3, its best (0.3), even though box 3 overlaps
    # gt 0 by 0.2 < 0.3: forcing wins over the argmax.
    iou = torch.tensor([
        [0.8, 0.1, 0.0, 0.2],
        [0.0, 0.1, 0.2, 0.3],
    ])
    assert match_default_boxes(iou, 0.5).tolist() == [0, BACKGROUND, BACKGROUND, 1]


def test_forced_box_goes_to_the_gt_that_chose_it():
    # Box 0 overlaps gt 0 most (0.9), but it is also gt 1's best box (0.6 > its 0.4 elsewhere):
    # SSD gives it to gt 1 (detectron2's low-quality matching would keep gt 0).
    iou = torch.tensor([
        [0.9, 0.7],
        [0.6, 0.4],
    ])
    assert match_default_boxes(iou, 0.5).tolist() == [1, 0]


def test_conflict_later_gt_wins_and_no_overlap_no_force():
    iou = torch.tensor([
        [0.3, 0.0],
        [0.4, 0.1],
        [0.0, 0.0],  # overlaps nothing: not forced onto a box
    ])
    # Box 0 is the best box of gts 0 and 1: the later (1) takes it; box 1 stays background.
    assert match_default_boxes(iou, 0.5).tolist() == [1, BACKGROUND]


def test_empty():
    assert match_default_boxes(torch.zeros(0, 3)).tolist() == [BACKGROUND] * 3
