"""Jigsaw (Montage) canvas assembly: four samples on a 2x2 grid, never resized or warped.

Layout of a ``C x C`` canvas split at column ``a`` and row ``c``::

    +-------------------+---------------------------+
    | 0: S, the smaller | 1: W (wide)               |  c rows
    +-------------------+---------------------------+
    | 2: T (tall)       | 3: S, the larger          |  C - c rows
    +-------------------+---------------------------+
         a columns            C - a columns

Cell sizes follow the two square samples: ``a = C * w_small / (w_small + w_large)`` and
``c = C * h_small / (h_small + h_large)`` (rounded), each clamped to
``[min_fraction * C, C / 2]``. So the top-left cell is never larger than the bottom-right one,
cell 1 is at least as wide as high and cell 2 at least as high as wide.

Each sample is placed at its native size: along each axis, a sample longer than its cell is
randomly cropped (to a window that keeps its ``center`` - the object's centre - in view when
possible); a shorter one is placed at a random offset and the rest of the cell is filled with
``pad_value`` (the pixel mean, which normalises to zero).
"""

from __future__ import annotations

import logging

import numpy as np

from .sampling import GROUPS, JigsawSamples

logger = logging.getLogger(__name__)

# Group of each cell, in cell order (top-left, top-right, bottom-left, bottom-right).
CELL_GROUPS = ("S", "W", "T", "S")
# Where a cell's samples come from when its own group has none at all (in order of preference).
FALLBACK = {"S": ("W", "T"), "T": ("S", "W"), "W": ("S", "T")}


def cell_layout(small_wh: tuple[float, float], large_wh: tuple[float, float], canvas_size: int,
                min_fraction: float = 0.25) -> np.ndarray:
    """(4, 4) int64 XYXY cell boxes (cell order of the module docstring) for two square samples
    of sizes ``small_wh`` and ``large_wh`` (width, height)."""
    C = canvas_size

    def split(small: float, large: float) -> int:
        return round(C * float(np.clip(small / (small + large), min_fraction, 0.5)))

    a, c = split(small_wh[0], large_wh[0]), split(small_wh[1], large_wh[1])
    return np.array([[0, 0, a, c], [a, 0, C, c], [0, c, a, C], [a, c, C, C]], np.int64)


def _window(size: int, cell: int, center: float, rng) -> tuple[int, int]:
    """(offset in the sample, offset in the cell) along one axis."""
    if size <= cell:  # pad: random place inside the cell
        return 0, int(rng.randint(0, cell - size + 1))
    # crop: offsets o in [0, size - cell] with o <= center < o + cell, if any
    lo, hi = max(0, int(np.floor(center - cell)) + 1), min(size - cell, int(np.floor(center)))
    if lo > hi:
        lo, hi = 0, size - cell
    return int(rng.randint(lo, hi + 1)), 0


def place_in_cell(crop: np.ndarray, center_xy: tuple[float, float], cell_hw: tuple[int, int], rng,
                  pad_value: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Fit an HWC ``crop`` into a cell of ``cell_hw`` (height, width) by random cropping and/or
    padding, without resizing. ``rng`` is a ``np.random.RandomState`` (or the ``np.random`` module).

    Returns the cell's pixels and the (x, y) shift from crop to cell coordinates."""
    ch, cw = cell_hw
    h, w = crop.shape[:2]
    sy, dy = _window(h, ch, center_xy[1], rng)
    sx, dx = _window(w, cw, center_xy[0], rng)
    out = np.empty((ch, cw, crop.shape[2]), crop.dtype)
    out[...] = pad_value
    ph, pw = min(h, ch), min(w, cw)
    out[dy:dy + ph, dx:dx + pw] = crop[sy:sy + ph, sx:sx + pw]
    return out, (dx - sx, dy - sy)


def assemble_canvas(crops: list[np.ndarray], centers: list[tuple[float, float]], canvas_size: int, rng,
                    pad_value: np.ndarray, min_fraction: float = 0.25,
                    objects: list[np.ndarray] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, list[int], np.ndarray]:
    """Assemble four HWC crops given as (S, S, T, W) - the two squares in any order - into a canvas.

    Returns the HWC canvas, the (4, 4) cell boxes, for each cell the index of the crop it shows
    (:func:`cell_order`), to permute the labels the same way, and the (4, 4) XYXY canvas box of
    the part of each crop's object (``objects``: XYXY in crop coordinates) visible in its cell
    (empty boxes without ``objects``)."""
    order = cell_order(crops)
    s_small, s_large = crops[order[0]], crops[order[3]]
    cells = cell_layout(s_small.shape[1::-1], s_large.shape[1::-1], canvas_size, min_fraction)
    canvas = np.empty((canvas_size, canvas_size, crops[0].shape[2]), crops[0].dtype)
    visible = np.zeros((4, 4), np.float32)
    for k, (x0, y0, x1, y1) in enumerate(cells):
        canvas[y0:y1, x0:x1], (sx, sy) = place_in_cell(crops[order[k]], centers[order[k]], (y1 - y0, x1 - x0),
                                                       rng, pad_value)
        if objects is not None:
            box = np.asarray(objects[order[k]], np.float64) + [x0 + sx, y0 + sy, x0 + sx, y0 + sy]
            box = np.clip(box, [x0, y0, x0, y0], [x1, y1, x1, y1])
            visible[k] = np.concatenate([box[:2], np.maximum(box[2:], box[:2])])
    return canvas, cells, order, visible


def cell_object_fill(cells: np.ndarray, cell_objects: np.ndarray) -> np.ndarray:
    """(4,) fraction of each cell's area covered by its visible object (0 for a negative)."""
    def area(b: np.ndarray) -> np.ndarray:
        return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)

    return area(np.asarray(cell_objects, np.float64)) / area(np.asarray(cells, np.float64))


def cell_order(crops: list[np.ndarray]) -> list[int]:
    """Indices into (S, S, T, W) crops of the sample shown in each cell: the smaller square (by
    area; the first one on a tie) top-left, the W top-right, the T bottom-left, the larger square
    bottom-right."""
    area = [c.shape[0] * c.shape[1] for c in crops[:2]]
    small = 0 if area[0] <= area[1] else 1
    return [small, 3, 2, 1 - small]


class GroupSampler:
    """Draws sample indices per aspect group.

    Training (``shuffle=True``): each group is a queue in random order; a group that runs out -
    T and W are usually much smaller than S - is reshuffled and drawn again, so every sample of a
    group is used once per pass over that group (sampling with replacement across passes).
    Evaluation (``shuffle=False``): a uniform draw from ``rng``, without state, so a canvas
    depends only on its seed. A group with no sample at all is replaced by the first non-empty
    group of ``FALLBACK`` (its samples are then cropped or padded to the cell's shape); a warning
    says so once.
    """

    def __init__(self, samples: JigsawSamples, shuffle: bool = True):
        if len(samples) == 0:
            raise ValueError("No jigsaw sample: the dataset has no usable box (see SCRATCHDET.JIGSAW.MIN_BOX_SIZE).")
        self.shuffle = shuffle
        self._indices = {g: samples.indices(g) for g in GROUPS}
        self._source = {}
        for g in GROUPS:
            src = next(s for s in (g,) + FALLBACK[g] if len(self._indices[s]))
            if src != g:
                logger.warning(f"Jigsaw: no sample of aspect group {g}; its cells take samples of group {src}.")
            self._source[g] = src
        self._queues: dict[str, list[int]] = {g: [] for g in GROUPS}

    def source(self, group: str) -> str:
        """The group actually drawn from for ``group`` (itself unless it is empty)."""
        return self._source[group]

    def draw(self, group: str, rng) -> int:
        """One sample index for a cell of ``group``."""
        idx = self._indices[self._source[group]]
        if not self.shuffle:
            return int(idx[rng.randint(len(idx))])
        queue = self._queues[self._source[group]]
        if not queue:
            queue.extend(idx[rng.permutation(len(idx))].tolist()[::-1])  # pop() from the end
        return queue.pop()
