"""Extra residual layers go down to 1x1 for SSD300, SSD512 and the CPU size."""

import pytest
import torch

from scratchdet.modeling.norm_policy import zero_init_residual
from scratchdet.modeling.ssd import ExtraBlock, ExtraLayers


@pytest.mark.parametrize(
    "size, expected",
    [(19, [10, 5, 3, 1]), (32, [16, 8, 4, 2, 1]), (8, [4, 2, 1])],
)
def test_sizes(size, expected):
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


def _shortcut_only(block):
    # Zero the residual branch's last conv: the block outputs ReLU(shortcut).
    with torch.no_grad():
        block.conv2.weight.zero_()
        block.conv2.bias.zero_()
    return block


@pytest.mark.parametrize("size", [8, 5, 2])
def test_strided_shortcut_is_a_stride2_1x1_conv(size):
    # The official ScratchDet extra layers: BasicBlocks whose shortcut is a stride-2 1x1 conv.
    torch.manual_seed(0)
    block = _shortcut_only(ExtraBlock(4, 6, norm="", shortcut="strided"))
    x = torch.randn(1, 4, size, size)
    sc = block.shortcut
    expected = torch.relu(torch.nn.functional.conv2d(x, sc.weight, sc.bias, stride=2))
    assert torch.allclose(block(x), expected, atol=1e-6)


def test_strided_shortcut_of_a_3x3_map_takes_its_centre():
    # 3x3 -> 1x1 (no padding): the branch's window is centred on pixel (1, 1).
    torch.manual_seed(0)
    block = _shortcut_only(ExtraBlock(4, 6, norm="", shortcut="strided"))
    x = torch.randn(1, 4, 3, 3)
    sc = block.shortcut
    expected = torch.relu(torch.nn.functional.conv2d(x[..., 1:2, 1:2], sc.weight, sc.bias))
    assert torch.allclose(block(x), expected, atol=1e-6)


def test_avgpool_shortcut_kept_as_option_and_bad_name_rejected():
    torch.manual_seed(0)
    block = _shortcut_only(ExtraBlock(4, 6, norm="", shortcut="avgpool"))
    x = torch.randn(1, 4, 8, 8)
    sc = block.shortcut
    expected = torch.relu(torch.nn.functional.conv2d(torch.nn.functional.avg_pool2d(x, 2), sc.weight, sc.bias))
    assert torch.allclose(block(x), expected, atol=1e-6)
    with pytest.raises(ValueError, match="EXTRA_SHORTCUT"):
        ExtraBlock(4, 6, shortcut="pool")
