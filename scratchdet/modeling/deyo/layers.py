"""Small building blocks shared by the DEYO decoder parts."""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    """logit(x), clamped so that boxes touching 0 or 1 stay finite."""
    x = x.clamp(min=0.0, max=1.0)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def bias_init_with_prob(prior_prob: float) -> float:
    """Bias that makes a sigmoid classifier start at ``prior_prob`` (as RetinaNet does), so the
    focal loss does not start dominated by the many easy negatives."""
    return -math.log((1 - prior_prob) / prior_prob)


class MLP(nn.Module):
    """A few linear layers with ReLU between them (DETR's box head)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x

    def zero_last(self) -> None:
        """Start as a zero residual: a box head then begins by returning its reference box."""
        nn.init.zeros_(self.layers[-1].weight)
        nn.init.zeros_(self.layers[-1].bias)
