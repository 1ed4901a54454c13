"""tools/visualize_jigsaw.py writes its three PNGs."""

import importlib.util
import os

from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_visualize_jigsaw_writes_pngs(tmp_path):
    spec = importlib.util.spec_from_file_location("visualize_jigsaw", os.path.join(REPO, "tools", "visualize_jigsaw.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    written = tool.main([
        "--config-file", os.path.join(REPO, "projects", "JigsawPretrain", "configs", "jigsaw_R18_shapes_cpu.yaml"),
        "--output", str(tmp_path), "--num-canvases", "2",
        "SCRATCHDET.JIGSAW.CANVAS_SIZE", "64", "SCRATCHDET.JIGSAW.ERF_NUM_IMAGES", "1"])
    assert [os.path.basename(p) for p in written] == ["canvases.png", "erf.png", "soft_labels.png"]
    for p in written:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 200
