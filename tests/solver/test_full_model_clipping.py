"""SOLVER.CLIP_GRADIENTS.CLIP_TYPE "full_model": the norm of all gradients together is clipped
(one scale for every parameter, DETR/DEYO), not each parameter's on its own (detectron2's "norm")."""

import torch
from torch import nn

from scratchdet.solver.full_model_clipping import with_full_model_clipping


def _two_params(lr=0.0):
    a, b = nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(4))
    opt = torch.optim.SGD([a, b], lr=lr)
    a.grad = torch.full((3,), 3.0)
    b.grad = torch.full((4,), 4.0)
    return a, b, opt


def test_total_norm_is_clipped_with_one_scale():
    a, b, opt = _two_params()
    total = torch.cat([a.grad, b.grad]).norm()
    opt = with_full_model_clipping(opt, max_norm=1.0)
    assert isinstance(opt, torch.optim.SGD)
    opt.step()
    torch.testing.assert_close(torch.cat([a.grad, b.grad]).norm(), torch.tensor(1.0))
    # The same scale for both: the direction of the update is kept.
    torch.testing.assert_close(a.grad, torch.full((3,), 3.0) / total)
    torch.testing.assert_close(b.grad, torch.full((4,), 4.0) / total)


def test_small_gradients_are_untouched_and_step_still_updates():
    a, b, opt = _two_params(lr=1.0)
    opt = with_full_model_clipping(opt, max_norm=100.0)
    opt.step()
    torch.testing.assert_close(a.detach(), torch.full((3,), -3.0))
    torch.testing.assert_close(b.detach(), torch.full((4,), -4.0))
