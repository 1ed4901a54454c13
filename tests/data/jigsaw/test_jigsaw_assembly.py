"""Jigsaw canvas assembly: layout rule, crop/pad without resizing, group sampling and fallback."""

import logging

import numpy as np

from scratchdet.data.jigsaw import (
    GroupSampler,
    JigsawSamples,
    assemble_canvas,
    cell_layout,
    cell_object_fill,
    place_in_cell,
)

PAD = np.array([7, 7, 7], np.uint8)


def test_cell_layout_follows_the_square_samples_and_is_clamped():
    assert cell_layout((20, 30), (60, 30), 100).tolist() == [
        [0, 0, 25, 50], [25, 0, 100, 50], [0, 50, 25, 100], [25, 50, 100, 100]]
    assert cell_layout((30, 40), (70, 60), 100).tolist()[0] == [0, 0, 30, 40]
    # a tiny small square: clamped to min_fraction; a larger "small" one: clamped to half
    assert cell_layout((5, 80), (95, 20), 100, min_fraction=0.25).tolist()[0] == [0, 0, 25, 50]


def test_a_small_crop_is_padded_unchanged():
    crop = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) + 100
    out, shift = place_in_cell(crop, (1, 1), (4, 5), np.random.RandomState(0), PAD)
    assert out.shape == (4, 5, 3)
    ys, xs = np.nonzero((out != 7).any(2))
    y0, x0 = ys.min(), xs.min()
    assert shift == (x0, y0)
    assert np.array_equal(out[y0:y0 + 2, x0:x0 + 3], crop)
    assert (out != 7).any(2).sum() == 6  # everything else is padding


def test_a_large_crop_is_cropped_never_resized_and_keeps_the_object_centre():
    h, w = 40, 50
    crop = np.stack([*np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), np.zeros((h, w), int)], 2).astype(np.uint8)
    rng = np.random.RandomState(1)
    for _ in range(50):
        out, shift = place_in_cell(crop, (45.0, 5.0), (10, 20), rng, PAD)
        sy, sx = int(out[0, 0, 0]), int(out[0, 0, 1])  # the window's offset, read from the pixel values
        assert shift == (-sx, -sy)
        assert np.array_equal(out, crop[sy:sy + 10, sx:sx + 20])
        assert sx <= 45 < sx + 20 and sy <= 5 < sy + 10


def test_assembly_places_each_sample_in_its_cell():
    crops = [np.full((30, 30, 3), 1, np.uint8), np.full((10, 12, 3), 2, np.uint8),   # S, S
             np.full((60, 10, 3), 3, np.uint8), np.full((10, 60, 3), 4, np.uint8)]   # T, W
    centers = [(c.shape[1] / 2, c.shape[0] / 2) for c in crops]
    canvas, cells, order, visible = assemble_canvas(crops, centers, 64, np.random.RandomState(0), PAD)
    assert not visible.any()  # no objects given
    assert order == [1, 3, 2, 0]  # smaller S top-left, W top-right, T bottom-left, larger S bottom-right
    assert cells.tolist() == [[0, 0, 18, 16], [18, 0, 64, 16], [0, 16, 18, 64], [18, 16, 64, 64]]
    for k, (x0, y0, x1, y1) in enumerate(cells):
        values = set(np.unique(canvas[y0:y1, x0:x1]).tolist())
        assert values <= {order[k] + 1, 7} and order[k] + 1 in values


def _samples(groups):
    n = len(groups)
    return JigsawSamples(file_names=["x"], image_index=np.zeros(n, np.int64), boxes=np.zeros((n, 4), np.float32),
                         centers=np.zeros((n, 2), np.float32), labels=np.zeros(n, np.int64),
                         groups=np.array(groups, np.int8), num_classes=1)


def test_a_group_that_runs_out_is_reshuffled():
    sampler = GroupSampler(_samples([0, 0, 0, 1, 1, 2]), shuffle=True)
    rng = np.random.RandomState(0)
    t = [sampler.draw("T", rng) for _ in range(6)]
    # every pass over the two T samples uses each once
    assert [sorted(t[i:i + 2]) for i in range(0, 6, 2)] == [[3, 4]] * 3
    s = [sampler.draw("S", rng) for _ in range(6)]
    assert sorted(s[:3]) == [0, 1, 2] and sorted(s[3:]) == [0, 1, 2]
    assert {sampler.draw("W", rng) for _ in range(3)} == {5}


def test_an_empty_group_falls_back_to_another(caplog):
    with caplog.at_level(logging.WARNING):
        sampler = GroupSampler(_samples([0, 0, 2]), shuffle=False)
    assert "no sample of aspect group T" in caplog.text
    assert sampler.source("T") == "S" and sampler.source("S") == "S"
    rng = np.random.RandomState(0)
    assert {sampler.draw("T", rng) for _ in range(20)} == {0, 1}
    only_wide = GroupSampler(_samples([2]), shuffle=True)
    assert [only_wide.draw(g, rng) for g in ("S", "T", "W")] == [0, 0, 0]


def test_visible_object_boxes_and_how_much_of_each_cell_they_fill():
    crops = [np.full((30, 30, 3), 1, np.uint8), np.full((10, 12, 3), 2, np.uint8),   # S, S
             np.full((60, 10, 3), 3, np.uint8), np.full((10, 60, 3), 4, np.uint8)]   # T, W
    centers = [(c.shape[1] / 2, c.shape[0] / 2) for c in crops]
    objects = [np.array([5, 5, 25, 25]), np.array([2, 2, 10, 8]), np.array([0, 0, 10, 60]), np.array([3, 3, 3, 3])]
    canvas, cells, order, visible = assemble_canvas(crops, centers, 64, np.random.RandomState(0), PAD, objects=objects)
    # cell 0 shows the 10x12 square padded into 18x16: its 8x6 object is wholly in view
    x0, y0, x1, y1 = visible[0]
    assert (x1 - x0, y1 - y0) == (8, 6) and (canvas[int(y0):int(y1), int(x0):int(x1)] == 2).all()
    # cell 3 shows the 30x30 square cropped to 46x48 (padded): its 20x20 object is in view
    assert (visible[3, 2:] - visible[3, :2]).tolist() == [20, 20]
    fill = cell_object_fill(cells, visible)
    np.testing.assert_allclose(fill, [48 / (18 * 16), 0.0, 10 * 48 / (18 * 48), 400 / (46 * 48)])
    # cell 2: the 10x60 tall crop is cropped to 48 rows; only the rows in view count
    assert visible[2, 3] - visible[2, 1] == 48
