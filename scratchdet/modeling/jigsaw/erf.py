"""Effective receptive field (ERF, Luo et al. 2016) measured by back-propagation, and the share
of an ERF that falls into a rectangle.

The ERF of output position ``p`` is ``|d sum_c y[c, p] / d x|``, summed over input channels and
images, normalised to sum 1: a weight map over the input. One forward pass and one backward pass
per output position; gradients are taken with respect to the input only, so the parameters'
``.grad`` is untouched. Run the network in eval mode (train-mode BatchNorm couples the images of
a batch through its statistics).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F


def measure_erf(net: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, pool: int = 1) -> torch.Tensor:
    """ERF maps of every output position of ``net`` (which maps (N, C, H, W) to (N, C', Hf, Wf)).

    Returns:
        (Hf, Wf, ceil(H / pool), ceil(W / pool)) maps, each summing to 1 (all zero if the output
        does not depend on the input); map[i, j] is the ERF of output position (i, j), sum-pooled
        by ``pool`` (pool 1 keeps full resolution).
    """
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = net(x)
        hf, wf = y.shape[-2:]
        maps = []
        for p in range(hf * wf):
            i, j = divmod(p, wf)
            (g,) = torch.autograd.grad(y[:, :, i, j].sum(), x, retain_graph=p < hf * wf - 1)
            maps.append(sum_pool(g.detach().abs().sum((0, 1)), pool))
    maps = torch.stack(maps)
    maps = maps / maps.sum((1, 2), keepdim=True).clamp_min(torch.finfo(maps.dtype).tiny)
    return maps.view(hf, wf, *maps.shape[-2:])


def sum_pool(m: torch.Tensor, pool: int) -> torch.Tensor:
    """Sum of ``pool x pool`` blocks of a (H, W) map, zero-padded at the bottom/right to whole blocks."""
    if pool == 1:
        return m
    h, w = m.shape
    m = F.pad(m, (0, math.ceil(w / pool) * pool - w, 0, math.ceil(h / pool) * pool - h))
    return m.view(m.shape[0] // pool, pool, m.shape[1] // pool, pool).sum((1, 3))


def integral_maps(maps: torch.Tensor) -> torch.Tensor:
    """(P, h, w) maps -> (P, h + 1, w + 1) integral images (``I[:, y, x]`` = mass above and left of (x, y))."""
    return F.pad(maps.cumsum(1).cumsum(2), (1, 0, 1, 0))


def _sample(integral: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bilinear interpolation of (P, h + 1, w + 1) integral images at fractional (y, x) in
    map units: exact for maps that are constant inside each pooled block."""
    h, w = integral.shape[1] - 1, integral.shape[2] - 1
    y, x = y.clamp(0, h), x.clamp(0, w)
    y0, x0 = y.floor().long().clamp(max=max(h - 1, 0)), x.floor().long().clamp(max=max(w - 1, 0))
    ty, tx = y - y0, x - x0
    y1, x1 = (y0 + 1).clamp(max=h), (x0 + 1).clamp(max=w)
    a, b = integral[:, y0, x0], integral[:, y0, x1]
    c, d = integral[:, y1, x0], integral[:, y1, x1]
    return (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty


def rect_mass(integral: torch.Tensor, boxes: torch.Tensor, pool: int = 1) -> torch.Tensor:
    """Mass of each of P maps inside each box.

    Args:
        integral: (P, h + 1, w + 1) from :func:`integral_maps` of maps pooled by ``pool``.
        boxes: (..., 4) XYXY boxes in input pixels.
    Returns:
        (..., P) masses.
    """
    b = boxes.to(integral.dtype) / pool
    x0, y0, x1, y1 = b.unbind(-1)
    m = _sample(integral, y1, x1) - _sample(integral, y0, x1) - _sample(integral, y1, x0) + _sample(integral, y0, x0)
    return m.movedim(0, -1)


def erf_radius(maps: torch.Tensor, image_hw: tuple[int, int], pool: int = 1) -> float:
    """Mean over output positions of the ERF's radius of gyration (input pixels) around the
    position's centre: a single number that grows as the ERF spreads out.

    Args:
        maps: (Hf, Wf, h, w) from :func:`measure_erf`.
    """
    hf, wf, h, w = maps.shape
    yy = (torch.arange(h, dtype=maps.dtype, device=maps.device) + 0.5) * pool
    xx = (torch.arange(w, dtype=maps.dtype, device=maps.device) + 0.5) * pool
    cy = (torch.arange(hf, dtype=maps.dtype, device=maps.device) + 0.5) * image_hw[0] / hf
    cx = (torch.arange(wf, dtype=maps.dtype, device=maps.device) + 0.5) * image_hw[1] / wf
    d2 = (yy[None, None, :, None] - cy[:, None, None, None]) ** 2 + (xx[None, None, None, :] - cx[None, :, None, None]) ** 2
    return float((maps * d2).sum((2, 3)).sqrt().mean())
