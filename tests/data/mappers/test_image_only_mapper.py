"""ImageOnlyMapper: square crops of the configured size, no annotations, a central crop at test."""

import numpy as np
import pytest
from detectron2.data import DatasetCatalog

from scratchdet.config import load_config_file
from scratchdet.data import build_mapper
from scratchdet.data.transforms.random_resized_crop import RandomResizedCrop
from tests.conftest import REPO

MAE_CFG = f"{REPO}/projects/MAEPretrain/configs/mae_vit_tiny_shapes_cpu.yaml"


@pytest.mark.parametrize("is_train", [True, False])
def test_square_image_without_annotations(is_train):
    cfg = load_config_file(MAE_CFG, ["SCRATCHDET.MAE.IMAGE_SIZE", "48"])
    d = DatasetCatalog.get("shapes_train")[0]
    out = build_mapper(cfg, is_train)(d)
    assert out["image"].shape == (3, 48, 48)
    assert (out["height"], out["width"]) == (48, 48)
    assert "instances" not in out and out["file_name"] == d["file_name"]


def test_random_resized_crop_area_and_ratio():
    np.random.seed(0)
    aug = RandomResizedCrop(32, scale=(0.2, 0.5), ratio=(0.75, 4 / 3))
    for _ in range(50):
        x0, y0, cw, ch = aug._box(100, 200)
        assert x0 >= 0 and x0 + cw <= 200 and y0 >= 0 and y0 + ch <= 100
        assert 0.19 <= cw * ch / 20000 <= 0.51
        assert 0.7 <= cw / ch <= 1.4


def test_central_square_at_test():
    aug = RandomResizedCrop(16, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert aug._box(100, 200) == (50, 0, 100, 100)
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 50:150] = 255  # the central square is white, the rest black
    assert (aug.get_transform(image).apply_image(image) == 255).all()
