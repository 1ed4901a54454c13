import importlib.util
import os

from scratchdet.config import load_config_file
from scratchdet.data.datasets.statistics import dataset_statistics, max_boxes_per_image, warn_if_detections_capped
from tests.conftest import DEMO_CONFIG, REPO, write_user_coco

spec = importlib.util.spec_from_file_location("dataset_report", os.path.join(REPO, "tools", "dataset_report.py"))
dataset_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dataset_report)


def test_report_applies_as_a_base_config(tmp_path):
    json_file, img_dir = write_user_coco(tmp_path, "rep", [1, 7, 42], n_images=6, boxes_per_image=5)
    out = tmp_path / "sizes.yaml"
    keys = dataset_report.main(["rep_src", "--config-file", DEMO_CONFIG, "--input-size", "160", "--apply", str(out),
                                "SCRATCHDET.DATA.COCO", f"[['rep_src', '{json_file}', '{img_dir}']]"])
    assert (tmp_path / "sizes.png").is_file()
    cfg = load_config_file(str(out))
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == 3 and cfg.INPUT.MIN_SIZE_TEST == 160
    assert tuple(cfg.INPUT.MIN_SIZE_TRAIN) == (160,)
    assert [list(a) for a in cfg.MODEL.ANCHOR_GENERATOR.SIZES] == keys["MODEL.ANCHOR_GENERATOR.SIZES"]
    assert cfg.TEST.DETECTIONS_PER_IMAGE == keys["TEST.DETECTIONS_PER_IMAGE"] >= 5
    assert cfg.MODEL.RPN.POST_NMS_TOPK_TEST >= cfg.TEST.DETECTIONS_PER_IMAGE
    # boxes 14-30 px at 80 px -> x2 at 160: anchors cover them (within sqrt 2 of one size)
    sizes = sum(keys["MODEL.ANCHOR_GENERATOR.SIZES"], [])
    assert sizes[0] <= 28 * 1.42 and len(sizes) == 5 and sizes[1] == 2 * sizes[0]


def test_statistics_count_boxes(tmp_path):
    d = [{"height": 100, "width": 200, "annotations": [
        {"bbox": [0, 0, 10, 40], "bbox_mode": 1, "category_id": 0}] * 3},
        {"height": 100, "width": 200, "annotations": []}]
    s = dataset_statistics(d, ["a"], input_size=50)
    assert s["boxes_per_image"]["max"] == 3 == max_boxes_per_image(d)
    assert s["box_size_px"][50] == 20 and s["box_size_resized"][50] == 10
    assert abs(s["box_size_relative"][50] - 20 / (100 * 200) ** 0.5) < 1e-9


def test_warning_when_detections_are_capped(scratchdet_warnings):
    d = [{"height": 64, "width": 64, "annotations": [{"bbox": [0, 0, 5, 5], "bbox_mode": 1, "category_id": 0}] * 150}]
    cfg = load_config_file(DEMO_CONFIG, ["TEST.DETECTIONS_PER_IMAGE", "100"])
    warn_if_detections_capped(cfg, d, "crowded")
    msg = " ".join(scratchdet_warnings)
    assert "crowded" in msg and "150" in msg and "TEST.DETECTIONS_PER_IMAGE=100" in msg
    assert cfg.TEST.DETECTIONS_PER_IMAGE == 100  # never changed
    scratchdet_warnings.clear()
    cfg = load_config_file(DEMO_CONFIG, ["TEST.DETECTIONS_PER_IMAGE", "200", "MODEL.RPN.POST_NMS_TOPK_TEST", "120"])
    warn_if_detections_capped(cfg, d, "crowded")
    msg = " ".join(scratchdet_warnings)
    assert "MODEL.RPN.POST_NMS_TOPK_TEST=120" in msg and "DETECTIONS_PER_IMAGE" not in msg


def test_apply_with_base_writes_a_config_that_runs_as_it_is(tmp_path):
    json_file, img_dir = write_user_coco(tmp_path, "rb", [1, 2], n_images=4)
    out = tmp_path / "cfgs" / "mine.yaml"
    dataset_report.main(["rb_src", "--config-file", DEMO_CONFIG, "--input-size", "96", "--apply", str(out),
                         "--base", DEMO_CONFIG, "SCRATCHDET.DATA.COCO", f"[['rb_src', '{json_file}', '{img_dir}']]"])
    assert out.read_text().splitlines()[1].startswith("_BASE_: ")
    cfg = load_config_file(str(out))  # one file: the user's config (its model) under the suggestions
    assert cfg.MODEL.RESNETS.DEPTH == 18 and cfg.MODEL.ROI_HEADS.NUM_CLASSES == 2 and cfg.INPUT.MIN_SIZE_TEST == 96


def _tool_exit(script: str, *args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, os.path.join(REPO, "tools", script), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_tools_report_user_errors_in_one_line(tmp_path):
    proc = _tool_exit("dataset_report.py", "not_registered_anywhere", "--config-file", DEMO_CONFIG)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("scratchdet: error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr  # (torch's own warnings may come before it)
    assert "Traceback" not in proc.stderr and "not_registered_anywhere" in errors[0]
    proc = _tool_exit("plot_loss_curves.py", str(tmp_path / "missing.json"), str(tmp_path / "x.png"))
    assert proc.returncode == 2 and "missing.json: no such file" in proc.stderr and "Traceback" not in proc.stderr
