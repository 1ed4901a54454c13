"""YOLO-format datasets (SCRATCHDET.DATA.YOLO) and a schedule in epochs (SOLVER.MAX_EPOCHS):
a folder written here trains and evaluates with its class names; bad label lines are named."""

import json

import cv2
import numpy as np
import pytest

from scratchdet.data.datasets.errors import DatasetError
from scratchdet.data.datasets.yolo_txt import class_names, labels_dir, parse_yolo_labels
from tests.conftest import DEMO_CONFIG, TINY_OPTS, run_train_net


def write_yolo(root, split: str, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.full((80, 96, 3), 128, np.uint8)
        lines = []
        for _ in range(3):
            k = int(rng.integers(2))
            w, h = (int(v) for v in rng.integers(14, 30, 2))
            x, y = int(rng.integers(0, 96 - w)), int(rng.integers(0, 80 - h))
            img[y:y + h, x:x + w] = [(40, 40, 230), (40, 200, 40)][k]  # BGR: red, green
            lines.append(f"{k} {(x + w / 2) / 96:.6f} {(y + h / 2) / 80:.6f} {w / 96:.6f} {h / 80:.6f}")
        cv2.imwrite(str(root / "images" / split / f"{i}.jpg"), img)
        if i != n - 1:  # the last image has no label file: an image without objects, as in Ultralytics
            (root / "labels" / split / f"{i}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text("names:\n  0: red\n  1: green\n")


def test_a_yolo_folder_trains_and_evaluates_with_its_names_on_an_epoch_schedule(tmp_path):
    root = tmp_path / "yolo"
    write_yolo(root, "train", 8)
    write_yolo(root, "val", 4, seed=1)
    out = tmp_path / "out"
    data = f"[['y_train', '{root}/images/train', '{root}/data.yaml'], ['y_val', '{root}/images/val', '{root}/data.yaml']]"
    run_train_net(["--config-file", DEMO_CONFIG, *TINY_OPTS, "SCRATCHDET.DATA.YOLO", data, "DATASETS.TRAIN", "('y_train',)",
                   "DATASETS.TEST", "('y_val',)", "MODEL.ROI_HEADS.NUM_CLASSES", "2", "MODEL.MASK_ON", "False",
                   "SOLVER.MAX_EPOCHS", "2", "SOLVER.STEPS_EPOCHS", "(1,)", "OUTPUT_DIR", str(out)])
    log = (out / "log.txt").read_text()
    # 7 labelled images (the empty one filtered in training) / 2 per batch = 4 iterations per epoch
    assert "4 iterations per epoch; SOLVER.MAX_EPOCHS 2 -> MAX_ITER 8" in log and "STEPS (4,)" in log
    rows = [json.loads(line) for line in open(out / "metrics.json")]
    assert max(r["iteration"] for r in rows if "total_loss" in r) == 7  # 8 steps
    res = json.load(open(out / "final_results.json"))["bbox"]
    assert "AP-red" in res and "AP-green" in res  # evaluated with the data yaml's names


def test_names_layout_and_bad_lines():
    assert class_names("a, b,c") == ["a", "b", "c"] and class_names(["x"]) == ["x"]
    assert labels_dir("/d/images/train") == "/d/labels/train"
    with pytest.raises(DatasetError, match="no 'images' component"):
        labels_dir("/d/pictures/train")


@pytest.mark.parametrize("line,msg", [("0 0.5 0.5 0.2", "expected 'class cx cy w h'"), ("x 0.5 0.5 0.2 0.2", "not 'class"),
                                      ("3 0.5 0.5 0.2 0.2", "class 3 is not among the 2 names"),
                                      ("0 0.1 0.1 0.2 0.1 0.3 0.3", "a polygon")])
def test_a_bad_label_line_names_file_and_line(tmp_path, line, msg):
    f = tmp_path / "l.txt"
    f.write_text("1 0.5 0.5 0.1 0.1\n" + line + "\n")
    with pytest.raises(DatasetError, match=f"l.txt:2: .*{msg}" if msg != "a polygon" else "l.txt:2: a polygon"):
        parse_yolo_labels(str(f), 100, 50, 2)


def test_boxes_are_absolute_xyxy(tmp_path):
    f = tmp_path / "ok.txt"
    f.write_text("1 0.5 0.5 0.2 0.4\n")
    (a,) = parse_yolo_labels(str(f), 100, 50, 2)
    assert a["category_id"] == 1 and a["bbox"] == pytest.approx([40, 15, 60, 35])
