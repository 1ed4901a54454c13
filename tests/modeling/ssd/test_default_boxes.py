"""SSD default boxes: counts per level (SSD300/512's 8732/24564), positions and sizes, order."""

import math

import pytest
import torch

from scratchdet.modeling.ssd import DefaultBoxGenerator, default_box_shapes

SSD300_SIZES = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
SSD300_RATIOS = [[2], [2, 3], [2, 3], [2, 3], [2], [2]]
SSD300_SCALES = [0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05]


def test_ssd300_count():
    gen = DefaultBoxGenerator(SSD300_SCALES, SSD300_RATIOS)
    assert gen.num_boxes_per_position == [4, 6, 6, 6, 4, 4]
    boxes = gen(SSD300_SIZES, (300, 300))
    assert boxes.shape == (8732, 4)


def test_ssd512_count():
    scales = [0.07, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05]
    ratios = [[2], [2, 3], [2, 3], [2, 3], [2, 3], [2], [2]]
    sizes = [(64, 64), (32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    assert DefaultBoxGenerator(scales, ratios)(sizes, (512, 512)).shape == (24564, 4)


def test_positions_and_sizes():
    # One 2x2 level on a 100x100 input, scales 0.2 / 0.45, ratio 2.
    gen = DefaultBoxGenerator([0.2, 0.45], [[2.0]])
    boxes = gen([(2, 2)], (100, 100))
    assert boxes.shape == (2 * 2 * 4, 4)
    # First position: centre (25, 25); its boxes in order: 20x20, sqrt(0.2*0.45)*100 = 30 square,
    # 20*sqrt(2) x 20/sqrt(2), then the transpose.
    r = math.sqrt(2)
    expected = torch.tensor([
        [15, 15, 35, 35],
        [10, 10, 40, 40],
        [25 - 10 * r, 25 - 10 / r, 25 + 10 * r, 25 + 10 / r],
        [25 - 10 / r, 25 - 10 * r, 25 + 10 / r, 25 + 10 * r],
    ])
    torch.testing.assert_close(boxes[:4], expected)
    # Positions are row-major: the second is (75, 25), the third (25, 75).
    centres = (boxes[::4, :2] + boxes[::4, 2:]) / 2
    torch.testing.assert_close(centres, torch.tensor([[25.0, 25], [75, 25], [25, 75], [75, 75]]))


def test_levels_in_order_and_not_clipped():
    gen = DefaultBoxGenerator([0.5, 0.9, 1.2], [[], []])
    boxes = gen([(2, 2), (1, 1)], (10, 10))
    assert boxes.shape == (2 * 2 * 2 + 2, 4)
    # The last level's boxes are centred and extend past the image (SSD does not clip).
    torch.testing.assert_close(boxes[-2], torch.tensor([0.5, 0.5, 9.5, 9.5]))
    assert boxes[-1, 0] < 0


def test_non_square_input_uses_each_side():
    boxes = DefaultBoxGenerator([0.5, 0.5], [[]])([(1, 1)], (100, 200))
    torch.testing.assert_close(boxes[0], torch.tensor([50.0, 25, 150, 75]))


def test_shapes_and_errors():
    assert len(default_box_shapes(0.2, 0.4, [2, 3])) == 6
    with pytest.raises(ValueError, match="aspect-ratio lists"):
        DefaultBoxGenerator([0.1, 0.2, 0.3], [[2], [2], [2]])
    with pytest.raises(ValueError, match="feature maps"):
        DefaultBoxGenerator([0.1, 0.2], [[2]])([(2, 2), (1, 1)], (10, 10))
