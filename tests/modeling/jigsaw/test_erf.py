"""ERF measurement on networks whose receptive field is known exactly, and masses in boxes."""

import math

import pytest
import torch
from torch import nn

from scratchdet.modeling.jigsaw.erf import (
    erf_radius,
    integral_maps,
    measure_erf,
    rect_mass,
    sum_pool,
)


def _convs(n, strides=None, ones=False, relu=False):
    layers = []
    for k in range(n):
        conv = nn.Conv2d(1, 1, 3, stride=(strides or [1] * n)[k], padding=1, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.ones_like(conv.weight) if ones else torch.rand_like(conv.weight) * 0.9 + 0.1)
        layers += [conv, nn.ReLU()] if relu else [conv]
    return nn.Sequential(*layers)


def test_erf_of_two_linear_3x3_convs_is_the_exact_binomial_kernel():
    maps = measure_erf(_convs(2, ones=True), torch.ones(1, 1, 9, 9))
    v = torch.tensor([1.0, 2, 3, 2, 1])
    expected = torch.zeros(9, 9)
    expected[2:7, 2:7] = torch.outer(v, v) / 81
    assert maps.shape == (9, 9, 9, 9)
    torch.testing.assert_close(maps[4, 4], expected, rtol=0, atol=1e-7)
    corner = torch.zeros(9, 9)  # zero padding: the corner sees a 3x3 support, weighted 4,2,1 by paths
    corner[:3, :3] = torch.tensor([[4.0, 4, 2], [4, 4, 2], [2, 2, 1]]) / 25
    torch.testing.assert_close(maps[0, 0], corner, rtol=0, atol=1e-7)


@pytest.mark.parametrize("n", [1, 3])
def test_erf_support_of_a_3x3_stack_is_exactly_its_receptive_field(n):
    maps = measure_erf(_convs(n, relu=True), torch.rand(2, 1, 12, 12) + 0.1)
    for i in range(12):
        for j in range(12):
            expected = torch.zeros(12, 12, dtype=torch.bool)
            expected[max(i - n, 0):i + n + 1, max(j - n, 0):j + n + 1] = True
            assert torch.equal(maps[i, j] > 0, expected)
            assert math.isclose(float(maps[i, j].sum()), 1.0, rel_tol=1e-5)


def test_erf_support_with_a_stride_2_layer():
    # conv s2 then conv s1: receptive field 7 px, jump 2: output i sees inputs 2i-3 .. 2i+3
    maps = measure_erf(_convs(2, strides=[2, 1], relu=True), torch.rand(1, 1, 16, 16) + 0.1)
    assert maps.shape == (8, 8, 16, 16)
    for i in range(8):
        rows = torch.nonzero((maps[i, 3] > 0).any(1)).flatten()
        assert (int(rows.min()), int(rows.max())) == (max(2 * i - 3, 0), min(2 * i + 3, 15))


def test_pooled_maps_keep_the_mass_of_block_aligned_boxes():
    maps = measure_erf(_convs(2, relu=True), torch.rand(1, 1, 10, 10) + 0.1)
    full = integral_maps(maps.flatten(0, 1))
    pooled = integral_maps(torch.stack([sum_pool(m, 2) for m in maps.flatten(0, 1)]))
    boxes = torch.tensor([[[0.0, 0, 10, 10], [2, 4, 6, 10], [0, 0, 4, 2]]])
    direct = torch.stack([maps.flatten(0, 1)[:, y0:y1, x0:x1].sum((1, 2)) for x0, y0, x1, y1 in boxes[0].long().tolist()])
    torch.testing.assert_close(rect_mass(full, boxes)[0], direct, rtol=0, atol=1e-6)
    torch.testing.assert_close(rect_mass(pooled, boxes, pool=2)[0], direct, rtol=0, atol=1e-6)
    torch.testing.assert_close(rect_mass(full, boxes)[0, 0], torch.ones(100), rtol=0, atol=1e-6)
    # a box through the middle of pooled blocks: the mass inside a block is taken as uniform
    half, whole = torch.tensor([[[0.0, 0, 1, 10]]]), torch.tensor([[[0.0, 0, 2, 10]]])
    torch.testing.assert_close(rect_mass(pooled, half, pool=2), rect_mass(pooled, whole, pool=2) / 2)


def test_erf_radius_of_a_uniform_3x3_field():
    net = nn.Conv2d(1, 1, 3, bias=False)  # no padding: one output position, centred on the 3x3 input
    nn.init.ones_(net.weight)
    maps = measure_erf(net, torch.ones(1, 1, 3, 3))
    torch.testing.assert_close(maps[0, 0], torch.full((3, 3), 1 / 9))
    # 4 pixels at distance 1 and 4 at sqrt(2) from the centre
    assert math.isclose(erf_radius(maps, (3, 3)), math.sqrt(12 / 9), rel_tol=1e-6)
