"""Pure-PyTorch multi-scale deformable attention: shapes, and values against a direct
bilinear-interpolation computation with Python loops."""

import math

import torch

from scratchdet.modeling.deyo import MSDeformAttn, ms_deform_attn_core


def _bilinear(v, x, y):
    """v (D, H, W); (x, y) in pixel coordinates (centre of pixel j at j); zeros outside."""
    _, h, w = v.shape
    x0, y0 = math.floor(x), math.floor(y)
    out = torch.zeros(v.shape[0], dtype=v.dtype)
    for xi, yi in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
        if 0 <= xi < w and 0 <= yi < h:
            out += (1 - abs(x - xi)) * (1 - abs(y - yi)) * v[:, yi, xi]
    return out


def _direct(value, shapes, locations, weights):
    n, _, m, d = value.shape
    _, lq, _, _num_levels, num_points, _ = locations.shape
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    out = torch.zeros(n, lq, m, d, dtype=value.dtype)
    for b in range(n):
        for q in range(lq):
            for head in range(m):
                for lvl, (h, w) in enumerate(shapes):
                    v = value[b, starts[lvl] : starts[lvl + 1], head].T.reshape(d, h, w)
                    for p in range(num_points):
                        x = locations[b, q, head, lvl, p, 0].item() * w - 0.5
                        y = locations[b, q, head, lvl, p, 1].item() * h - 0.5
                        out[b, q, head] += weights[b, q, head, lvl, p] * _bilinear(v, x, y)
    return out.flatten(2)


def test_core_matches_direct_computation():
    torch.manual_seed(0)
    shapes = [(3, 4), (2, 2)]
    n, lq, m, d, p = 2, 3, 2, 3, 2
    value = torch.randn(n, sum(h * w for h, w in shapes), m, d, dtype=torch.float64)
    # Some points fall outside the map (read zeros there).
    locations = torch.rand(n, lq, m, len(shapes), p, 2, dtype=torch.float64) * 1.4 - 0.2
    weights = torch.rand(n, lq, m, len(shapes), p, dtype=torch.float64)
    got = ms_deform_attn_core(value, shapes, locations, weights)
    assert got.shape == (n, lq, m * d)
    torch.testing.assert_close(got, _direct(value, shapes, locations, weights))


def test_module_shapes_masking_and_gradients():
    torch.manual_seed(0)
    shapes = [(8, 8), (4, 4), (2, 2)]
    s = sum(h * w for h, w in shapes)
    attn = MSDeformAttn(embed_dim=16, num_heads=4, num_levels=3, num_points=2)
    query = torch.randn(2, 5, 16)
    ref = torch.tensor([0.5, 0.5, 0.2, 0.2]).repeat(2, 5, 1)
    value = torch.randn(2, s, 16, requires_grad=True)
    out = attn(query, ref, value, shapes)
    assert out.shape == (2, 5, 16)
    out.sum().backward()
    # Sampling positions are learned: the offsets receive a gradient through grid_sample.
    assert attn.sampling_offsets.weight.grad.abs().sum() > 0
    assert value.grad.abs().sum() > 0
    # Memory that is all padding contributes nothing: only the output projection's bias remains.
    with torch.no_grad():
        masked = attn(query, ref, value, shapes, value_mask=torch.ones(2, s, dtype=torch.bool))
    torch.testing.assert_close(masked, attn.output_proj.bias.expand_as(masked))
