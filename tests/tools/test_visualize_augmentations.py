"""tools/visualize_augmentations.py writes a PNG grid (original + augmented samples per row)."""

import importlib.util
import os

from PIL import Image

from tests.conftest import DEMO_CONFIG, REPO


def test_writes_the_grid(tmp_path):
    spec = importlib.util.spec_from_file_location("visualize_augmentations", os.path.join(REPO, "tools", "visualize_augmentations.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tool.main([
        "--config-file", DEMO_CONFIG, "--output", str(tmp_path / "aug.png"), "--num-images", "2", "--samples", "2",
        "--scale", "1", "SCRATCHDET.AUG.POLICY", "lsj", "SCRATCHDET.AUG.LSJ.IMAGE_SIZE", "128",
        "SCRATCHDET.AUG.COPY_PASTE.ENABLED", "True", "SCRATCHDET.AUG.MOSAIC.ENABLED", "True",
    ])
    with Image.open(out) as im:
        # 2 rows x 3 panels of 128 px, 4 px gaps.
        assert im.size == (3 * 128 + 2 * 4, 2 * 128 + 4)
