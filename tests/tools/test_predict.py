"""tools/predict.py on a folder (nested, 16-bit, a corrupt file) and a short generated video."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np

from scratchdet.checkpoint import ScratchCheckpointer
from scratchdet.engine import Trainer
from tests.conftest import DEMO_CONFIG, REPO, TINY_OPTS


def test_folder_and_video_give_drawn_images_and_one_results_json(tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    ScratchCheckpointer(Trainer.build_model(cfg), str(tmp_path)).save("weights")
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(src / "a.png"), rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    cv2.imwrite(str(src / "sub" / "b.jpg"), rng.integers(0, 255, (80, 80, 3), dtype=np.uint8))
    cv2.imwrite(str(src / "sub" / "deep16.png"), rng.integers(0, 4000, (64, 64), dtype=np.uint16))  # 16-bit
    (src / "broken.png").write_bytes(b"not a png")
    video = cv2.VideoWriter(str(src / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 5, (96, 80))
    for k in range(3):
        video.write(np.full((80, 96, 3), 40 * k, np.uint8))
    video.release()
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "predict.py"), "--config-file", DEMO_CONFIG,
                           "--weights", str(tmp_path / "weights.pth"), "--input", str(src), "--output", str(out),
                           "--score-thresh", "0.0", "--batch-size", "2", *TINY_OPTS],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "4 of 5 inputs processed (6 images/frames" in proc.stdout
    assert "broken.png" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    for f in ("a.png", "sub/b.png", "sub/deep16.png"):
        assert cv2.imread(str(out / f)) is not None, f  # drawn, the folder structure kept
    assert cv2.VideoCapture(str(out / "clip.mp4")).read()[0]
    results = json.load(open(out / "predictions.json"))
    assert results and {r["file_name"] for r in results} <= {"a.png", "sub/b.jpg", "sub/deep16.png", "clip.mp4"}
    frames = {r["frame"] for r in results if r["file_name"] == "clip.mp4"}
    assert frames <= {0, 1, 2}
    r = results[0]
    assert len(r["bbox"]) == 4 and 0 <= r["score"] <= 1 and "segmentation" in r  # the demo model has masks
    assert {x["category_id"] for x in results} <= {1, 2, 3, 4, 5}  # the dataset's ids of shapes


def test_a_missing_input_is_one_line():
    proc = subprocess.run([sys.executable, os.path.join(REPO, "tools", "predict.py"), "--config-file", DEMO_CONFIG,
                           "--weights", "x.pth", "--input", "/nonexistent/folder", "--output", "/tmp/never"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("scratchdet: error:")]
    assert proc.returncode == 2 and errors and "/nonexistent/folder" in errors[0] and "Traceback" not in proc.stderr
