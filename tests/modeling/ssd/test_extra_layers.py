"""Extra residual layers go down to 1x1 for SSD300, SSD512 and the CPU size."""

import pytest
import torch

from scratchdet.modeling.norm_policy import zero_init_residual
from scratchdet.modeling.ssd import ExtraLayers, extra_output_size


@pytest.mark.parametrize(
    "size, expected",
    [(19, [10, 5, 3, 1]), (32, [16, 8, 4, 2, 1]), (8, [4, 2, 1])],
)
def test_sizes(size, expected):
    sizes = [size]
    for _ in expected:
        sizes.append(extra_output_size(sizes[-1]))
    assert sizes[1:] == expected
    layers = ExtraLayers(16, [8] * len(expected), norm="BN").eval()
    outs = layers(torch.zeros(1, 16, size, size))
    assert [o.shape[-1] for o in outs] == expected
    assert [o.shape[1] for o in outs] == [8] * len(expected)


def test_no_norm_has_bias_and_zero_init_covers_blocks():
    plain = ExtraLayers(4, [4], norm="")
    assert plain.blocks[0].conv1.bias is not None and plain.blocks[0].conv1.norm is None
    bn = ExtraLayers(4, [4, 4], norm="BN")
    assert zero_init_residual(bn) == 2
    assert bn.blocks[0].conv2.norm.weight.abs().sum() == 0
