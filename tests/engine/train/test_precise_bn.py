import torch
from detectron2.layers import FrozenBatchNorm2d
from torch import nn

from scratchdet.engine.train.precise_bn import reestimate_bn_stats


class Net(nn.Module):
    def __init__(self, frozen=False):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1, bias=False)
        self.bn = FrozenBatchNorm2d(3) if frozen else nn.BatchNorm2d(3)

    def forward(self, x):
        return self.bn(self.conv(x))


def _batches(n=5):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(4, 2, 8, 8, generator=g) * 3 + 2 for _ in range(n)]


def test_statistics_are_those_of_the_new_data_for_bn_and_frozen_bn():
    for frozen in (False, True):
        net = Net(frozen)
        bn, mean_buf = net.bn, net.bn.running_mean
        batches = _batches()
        assert reestimate_bn_stats(net, batches, num_iters=5) == 1
        feats = [net.conv(b).detach() for b in batches]
        mean = torch.stack([f.mean(dim=(0, 2, 3)) for f in feats]).mean(0)
        # fvcore's population estimate: the average of the (unbiased) batch variances plus the
        # variance of the batch means.
        var = torch.stack([f.var(dim=(0, 2, 3)) for f in feats]).mean(0)
        torch.testing.assert_close(net.bn.running_mean, mean)
        torch.testing.assert_close(net.bn.running_var, var, rtol=0.05, atol=0.05)
        # the same layer object and statistics tensor, updated in place (FrozenBN stays frozen)
        assert net.bn is bn and net.bn.running_mean is mean_buf
        assert isinstance(net.bn, FrozenBatchNorm2d) == frozen


def test_training_flag_and_weights_are_restored():
    net = Net().eval()
    w = net.conv.weight.clone()
    reestimate_bn_stats(net, _batches(), num_iters=2)
    assert not net.training and torch.equal(net.conv.weight, w)


class PartlyFrozen(nn.Module):
    """A model that keeps one part in eval mode whatever train() says (as DEYO's frozen stage 1)."""

    def __init__(self):
        super().__init__()
        self.frozen = Net()
        self.head = Net()

    def train(self, mode=True):
        super().train(mode)
        self.frozen.eval()
        return self

    def forward(self, x):
        return self.head(self.frozen(x)[:, :2])


def test_layers_the_model_keeps_in_eval_mode_are_not_re_estimated():
    net = PartlyFrozen()
    net.frozen.bn.running_mean.fill_(0.5)
    frozen_before = {k: v.clone() for k, v in net.frozen.state_dict().items()}
    head_before = net.head.bn.running_mean.clone()
    assert reestimate_bn_stats(net, _batches(), num_iters=3) == 1
    assert all(torch.equal(v, net.frozen.state_dict()[k]) for k, v in frozen_before.items())
    assert not torch.equal(head_before, net.head.bn.running_mean)


def test_nothing_to_do_without_bn_or_iterations():
    assert reestimate_bn_stats(nn.Sequential(nn.Conv2d(2, 3, 1)), _batches(), num_iters=2) == 0
    assert reestimate_bn_stats(Net(), _batches(), num_iters=0) == 0
