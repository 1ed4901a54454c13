"""tools/train_own_data.py end to end on a user's COCO json with a tiny budget, and the one-line
refusals (exit 2) of bad input."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from scratchdet.config import load_config_file
from tests.conftest import REPO, write_user_coco

TOOL = os.path.join(REPO, "tools", "train_own_data.py")
spec = importlib.util.spec_from_file_location("train_own_data", TOOL)
train_own_data = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train_own_data)
# Small heads keep the tiny budget's steps short (and exercise the KEY VALUE overrides).
SMALL = ["DATALOADER.NUM_WORKERS", "0", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32", "SCRATCHDET.VIS.NUM_IMAGES", "2"]


def _run(args):
    return subprocess.run([sys.executable, TOOL, *args], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))


def test_a_budget_gives_a_chosen_config_a_best_model_and_a_summary(tmp_path):
    train_json, images = write_user_coco(tmp_path, "mine", [1, 7, 42], n_images=16)
    out = tmp_path / "out"
    proc = _run(["--train-json", train_json, "--images", images, "--val-fraction", "0.25", "--minutes", "1.5",
                 "--output", str(out), "--top-down", *SMALL])
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = json.load(open(out / "plan.json"))
    cfg = load_config_file(str(out / "config_chosen.yaml"))
    # the chosen schedule is the one trained, LR steps at 75/90%, and the data decided the model
    assert cfg.SOLVER.MAX_ITER == plan["schedule"]["iters"] >= 20
    assert cfg.SCRATCHDET.TIME_BUDGET.SECONDS > 0  # the trainer keeps the phase to its planned seconds
    assert cfg.SOLVER.LR_SCHEDULER_NAME == "WarmupMultiStepLR" and cfg.SCRATCHDET.EMA.ENABLED
    assert (int(cfg.SOLVER.MAX_ITER * 0.75), int(cfg.SOLVER.MAX_ITER * 0.9)) == cfg.SOLVER.STEPS
    assert cfg.MODEL.MASK_ON and cfg.MODEL.ROI_HEADS.NUM_CLASSES == 3 and cfg.SCRATCHDET.AUG.ROT90
    assert cfg.DATALOADER.NUM_WORKERS == 0  # the user's override, applied last
    assert cfg.TEST.EVAL_PERIOD == plan["schedule"]["eval_period"] > 0
    # test-time augmentation around the chosen test size, off until a test scene asks for it
    assert not cfg.TEST.AUG.ENABLED and cfg.TEST.AUG.FLIP
    assert min(cfg.TEST.AUG.MIN_SIZES) < cfg.INPUT.MIN_SIZE_TEST < max(cfg.TEST.AUG.MIN_SIZES)
    best = json.load(open(out / "model_best.json"))
    assert os.path.isfile(out / "model_best.pth") and best["metric"] == "bbox/AP"
    assert (out / "val_ap_curve.png").stat().st_size > 1000
    summary = (out / "summary.txt").read_text()
    assert "reading:" in summary and "wall-clock" in summary and "validation box AP:" in summary
    assert plan["train_eval_images"] == 0 or "on its training images" in summary
    assert "TEST.AUG.ENABLED True" in summary  # how to score another scene
    # the chosen config is a config train_net.py runs as it is (evaluation of the best model here,
    # with its test-time augmentation beside)
    ev = subprocess.run([sys.executable, "train_net.py", "--config-file", str(out / "config_chosen.yaml"), "--eval-only",
                         "MODEL.WEIGHTS", str(out / "model_best.pth"), "OUTPUT_DIR", str(tmp_path / "ev"),
                         "TEST.AUG.ENABLED", "True"],
                        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert ev.returncode == 0, ev.stderr[-2000:]
    res = json.load(open(tmp_path / "ev" / "eval_results.json"))
    assert abs(res["bbox"]["AP"] - best["value"]) < 1e-6 and 0 <= res["bbox_TTA"]["AP"] <= 100


def _refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        from scratchdet.engine.user_errors import run_reporting_user_errors

        run_reporting_user_errors(train_own_data.main, train_own_data.parse(argv))
    assert e.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("scratchdet: error:")]
    assert len(err) == 1, err  # one message (torch's own warnings may come before it)
    return err[0]


def test_bad_input_is_refused_in_one_line(tmp_path, capsys):
    train_json, images = write_user_coco(tmp_path, "mine", [1], n_images=6)
    base = ["--images", images, "--output", str(tmp_path / "o")]
    assert "no such file" in _refused(["--train-json", str(tmp_path / "nope.json"), *base, "--minutes", "5"], capsys)
    assert "--minutes" in _refused(["--train-json", train_json, *base, "--minutes", "0"], capsys)
    assert "--object-px" in _refused(["--train-json", train_json, *base, "--minutes", "5", "--object-px", "2"], capsys)
    done = tmp_path / "done"  # a run whose config is chosen: --resume takes no new choice
    done.mkdir()
    (done / "config_chosen.yaml").write_text("")
    (done / "plan.json").write_text("{}")
    assert "--object-px 24" in _refused(["--output", str(done), "--resume", "--object-px", "24"], capsys)
    # every flag that shapes a new choice is refused with --resume, not silently dropped
    line = _refused(["--output", str(done), "--resume", "--seed", "1", "--top-down", "--minutes", "5"], capsys)
    assert "--minutes 5" in line and "--top-down" in line and "--seed 1" in line
    # a budget that cannot hold the probe, one evaluation and a few steps: the minimum is named
    # (on box-only data: the command decides MASK_ON from the json before its checks)
    boxes = json.load(open(train_json))
    for a in boxes["annotations"]:
        del a["segmentation"]
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    line = _refused(["--train-json", str(tmp_path / "boxes.json"), *base, "--minutes", "0.05", *SMALL], capsys)
    assert "too small" in line and "--minutes" in line
    empty = json.load(open(train_json))
    empty["annotations"] = []
    (tmp_path / "empty.json").write_text(json.dumps(empty))
    # (the dataset names are registered once per process: the refusal is checked in its own)
    proc = _run(["--train-json", str(tmp_path / "empty.json"), *base, "--minutes", "5"])
    assert proc.returncode == 2 and "no annotations" in proc.stderr and "Traceback" not in proc.stderr


def test_the_probe_times_steps_after_its_warm_up():
    from scratchdet.engine.run.own_data import probe_step_seconds

    # Three slow first steps (workers starting, kernels built per shape), then ~2 s steps with one outlier.
    stamps = [0.0, 9.0, 15.0, 20.0, 22.0, 24.1, 25.9, 28.0, 35.0, 37.0]
    assert probe_step_seconds(stamps, warmup=3) == pytest.approx(2.0, abs=0.1)
    assert probe_step_seconds(stamps[:3], warmup=3) is None  # too few steps: the caller falls back
