"""JigsawMapper on the embedded dataset: output format, tiling, determinism."""

import numpy as np
import torch

from scratchdet.config import get_scratchdet_cfg
from scratchdet.data import MAPPER_REGISTRY, build_mapper


def _cfg():
    cfg = get_scratchdet_cfg()
    cfg.merge_from_list(["DATASETS.TRAIN", "('shapes_train',)", "DATASETS.TEST", "('shapes_val',)",
                         "SCRATCHDET.DATA.TRAIN_MAPPER", "JigsawMapper", "SCRATCHDET.DATA.TEST_MAPPER", "JigsawMapper",
                         "SCRATCHDET.JIGSAW.CANVAS_SIZE", "64",
                         # the shapes' classes, as the set-up step writes them in for NUM_CLASSES 0
                         "SCRATCHDET.JIGSAW.NUM_CLASSES", "5"])
    return cfg


def test_mapper_returns_a_tiled_canvas_with_labels():
    assert "JigsawMapper" in MAPPER_REGISTRY
    mapper = build_mapper(_cfg(), is_train=True)
    np.random.seed(0)
    for _ in range(5):
        d = mapper({"image_id": 1})
        assert d["image"].shape == (3, 64, 64) and d["image"].dtype == torch.uint8
        assert d["cells"].shape == (4, 4) and d["cell_labels"].shape == (4,)
        c = d["cells"]
        assert ((c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1])).sum() == 64 * 64
        assert c[0].tolist()[:2] == [0, 0] and c[3].tolist()[2:] == [64, 64]
        assert ((d["cell_labels"] >= 0) & (d["cell_labels"] <= 5)).all()  # 5 = background
        o = d["cell_objects"]  # visible object of each cell, inside its cell; empty for negatives
        assert o.shape == (4, 4) and (o[:, :2] >= c[:, :2]).all() and (o[:, 2:] <= c[:, 2:]).all()
        assert ((o[:, 2] - o[:, 0]) * (o[:, 3] - o[:, 1]))[d["cell_labels"] == 5].eq(0).all()


def test_training_canvases_follow_the_global_seed_and_evaluation_canvases_the_image():
    train = build_mapper(_cfg(), is_train=True)
    np.random.seed(3)
    a = [train({})["image"] for _ in range(2)]
    train = build_mapper(_cfg(), is_train=True)
    np.random.seed(3)
    b = [train({})["image"] for _ in range(2)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    test = build_mapper(_cfg(), is_train=False)
    first, again, other = test({"image_id": 4}), test({"image_id": 4}), test({"image_id": 5})
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["cells"], again["cells"])
    assert not torch.equal(first["image"], other["image"])


def test_training_samples_are_rescaled_and_flipped_with_their_object():
    mapper = build_mapper(_cfg(), is_train=True)
    assert mapper.sample_scale_range == (0.8, 1.5) and mapper.sample_flip  # the paper's addendum, by default
    crop = np.zeros((20, 40, 3), np.uint8)
    crop[:, :10] = 255  # left quarter white
    obj = np.array([2.0, 4.0, 12.0, 16.0])
    sizes, flipped = set(), 0
    np.random.seed(0)
    for _ in range(40):
        out, center, box = mapper._jitter(crop, (7.0, 10.0), obj, np.random)
        h, w = out.shape[:2]
        s = w / 40
        assert 0.8 - 0.03 <= s <= 1.5 + 0.03 and abs(h / 20 - s) < 0.06  # uniform rescale: same aspect group
        sizes.add(w)
        if out[h // 2, w - 1, 0] > 128:  # the white side moved right: flipped, object and centre with it
            flipped += 1
            assert abs(center[0] - (w - 7.0 * s)) < 1e-6 and abs(box[0] - (w - 12.0 * s)) < 1e-6
        else:
            assert abs(center[0] - 7.0 * s) < 1e-6 and abs(box[2] - 12.0 * s) < 1e-6
    assert len(sizes) > 5 and 8 <= flipped <= 32
    off = build_mapper(_cfg_with("SCRATCHDET.JIGSAW.SAMPLE_SCALE_RANGE", "(1.0, 1.0)",
                                 "SCRATCHDET.JIGSAW.SAMPLE_FLIP", "False"), is_train=True)
    same, c, b = off._jitter(crop, (7.0, 10.0), obj, np.random)
    assert np.array_equal(same, crop) and c == (7.0, 10.0) and np.array_equal(b, obj)


def _cfg_with(*opts):
    cfg = _cfg()
    cfg.merge_from_list(list(opts))
    return cfg
