"""JigsawMapper on the embedded dataset: output format, tiling, determinism."""

import numpy as np
import torch

from scratchdet.config import get_scratchdet_cfg
from scratchdet.data import MAPPER_REGISTRY, build_mapper


def _cfg():
    cfg = get_scratchdet_cfg()
    cfg.merge_from_list(["DATASETS.TRAIN", "('shapes_train',)", "DATASETS.TEST", "('shapes_val',)",
                         "SCRATCHDET.DATA.TRAIN_MAPPER", "JigsawMapper", "SCRATCHDET.DATA.TEST_MAPPER", "JigsawMapper",
                         "SCRATCHDET.JIGSAW.CANVAS_SIZE", "64"])
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
