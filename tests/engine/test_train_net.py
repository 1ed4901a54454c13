"""train_net.py end to end, as a user runs it: train from scratch, checkpoint, resume, evaluate
a checkpoint with --eval-only, 2 processes on CPU (gloo), and errors a user can act on."""

import json
import os
import shutil

import pytest
import torch

from tests.conftest import DEMO_CONFIG, TINY_OPTS, run_train_net


def metrics(out):
    return [json.loads(line) for line in open(os.path.join(out, "metrics.json"))]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """6 iterations from scratch, then --resume up to 10."""
    out = str(tmp_path_factory.mktemp("train"))
    opts = TINY_OPTS + ["OUTPUT_DIR", out, "SOLVER.CHECKPOINT_PERIOD", "3", "SOLVER.STEPS", "()",
                        "TEST.EVAL_PERIOD", "0"]
    run_train_net(["--config-file", DEMO_CONFIG, *opts, "SOLVER.MAX_ITER", "6"])
    first = torch.load(os.path.join(out, "model_final.pth"), map_location="cpu", weights_only=False)
    run_train_net(["--config-file", DEMO_CONFIG, "--resume", *opts, "SOLVER.MAX_ITER", "10"])
    yield out, first
    shutil.rmtree(out, ignore_errors=True)  # a module's folder outlives tmp_path_retention_policy


def test_training_leaves_its_outputs(trained):
    out, first = trained
    for f in ("metrics.json", "model_final.pth", "last_checkpoint", "config.yaml", "loss_curve.png",
              "predictions.png", "final_results.json", "model_0000002.pth"):
        assert os.path.isfile(os.path.join(out, f)), f
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(out))
    assert first["iteration"] == 5
    losses = [m["total_loss"] for m in metrics(out) if "total_loss" in m]
    assert all(torch.isfinite(torch.tensor(losses)))
    # nothing frozen: the stem's conv and its norm were trained (differ from a fresh model)
    assert "backbone.bottom_up.stem.conv1.norm.weight" in first["model"]
    assert not torch.allclose(first["model"]["backbone.bottom_up.stem.conv1.norm.weight"], torch.ones(64))


def test_resume_continues_from_last_checkpoint(trained):
    out, first = trained
    final = torch.load(os.path.join(out, "model_final.pth"), map_location="cpu", weights_only=False)
    assert final["iteration"] == 9
    iters = [m["iteration"] for m in metrics(out) if "total_loss" in m]
    # the resumed run starts after iteration 5, it does not start again at 0
    assert iters[-1] == 9 and iters.count(5) <= 1 and 0 not in iters[iters.index(5):]
    # the LR schedule and the optimizer state came along: the schedule continued, not restarted
    assert final["trainer"]["hooks"]["LRScheduler"]["last_epoch"] == 10
    assert final["trainer"]["_trainer"]["optimizer"]["state"]


def test_eval_only_prints_and_saves_ap(trained, tmp_path):
    out, _ = trained
    proc = run_train_net(["--config-file", DEMO_CONFIG, "--eval-only", *TINY_OPTS,
                          "MODEL.WEIGHTS", os.path.join(out, "model_final.pth"), "OUTPUT_DIR", str(tmp_path)])
    res = json.load(open(tmp_path / "eval_results.json"))
    assert set(res) == {"bbox", "segm"} and 0 <= res["bbox"]["AP"] <= 100
    assert "copypaste: AP,AP50" in proc.stdout + proc.stderr


def test_eval_only_refuses_checkpoint_of_another_model(trained, tmp_path):
    out, _ = trained
    proc = run_train_net(["--config-file", DEMO_CONFIG, "--eval-only", *TINY_OPTS, "MODEL.RESNETS.DEPTH", "50",
                          "MODEL.RESNETS.RES2_OUT_CHANNELS", "256", "MODEL.WEIGHTS",
                          os.path.join(out, "model_final.pth"), "OUTPUT_DIR", str(tmp_path)], check=False)
    assert proc.returncode == 2
    assert "model_final.pth matches only" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_key_on_command_line_is_one_clear_message(tmp_path):
    proc = run_train_net(["--config-file", DEMO_CONFIG, "SOLVER.MAX_ITERS", "3", "OUTPUT_DIR", str(tmp_path)],
                         check=False)
    assert proc.returncode == 2
    assert "Unknown config key 'SOLVER.MAX_ITERS'" in proc.stderr and "SOLVER.MAX_ITER" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_two_processes_on_cpu(tmp_path):
    """--num-gpus 2 on a machine without GPU: two processes, gloo, DDP on CPU, naive SyncBN."""
    out = str(tmp_path)
    run_train_net(["--config-file", DEMO_CONFIG, "--num-gpus", "2", *TINY_OPTS, "SOLVER.IMS_PER_BATCH", "4",
                   "MODEL.RESNETS.NORM", "naiveSyncBN", "MODEL.FPN.NORM", "naiveSyncBN",
                   "MODEL.ROI_BOX_HEAD.NORM", "naiveSyncBN_N", "MODEL.ROI_MASK_HEAD.NORM", "naiveSyncBN_N",
                   "SOLVER.MAX_ITER", "4", "SCRATCHDET.EMA.ENABLED", "True", "OUTPUT_DIR", out])
    log = open(os.path.join(out, "log.txt")).read()
    assert "world size: 2" in log.lower() or "Rank of current process: 0. World size: 2" in log
    # model EMA under DDP: the average of the unwrapped model, the trained weights beside it
    final = torch.load(os.path.join(out, "model_final.pth"), weights_only=True)
    assert final["ema"] == {"updates": 4} and final["model"].keys() == final["raw_model"].keys()
    assert json.load(open(os.path.join(out, "final_results.json")))["bbox"]["AP"] >= 0


TTA_OPTS = ["TEST.AUG.ENABLED", "True", "TEST.AUG.MIN_SIZES", "(80, 96, 112)", "TEST.AUG.MAX_SIZE", "160"]


def test_eval_only_with_test_time_augmentation(trained, tmp_path):
    """TEST.AUG as in detectron2's tools/train_net.py: the plain results and "<task>_TTA" beside them."""
    out, _ = trained
    run_train_net(["--config-file", DEMO_CONFIG, "--eval-only", *TINY_OPTS, *TTA_OPTS,
                   "MODEL.WEIGHTS", os.path.join(out, "model_final.pth"), "OUTPUT_DIR", str(tmp_path)])
    res = json.load(open(tmp_path / "eval_results.json"))
    assert set(res) == {"bbox", "segm", "bbox_TTA", "segm_TTA"}
    assert all(0 <= res[k]["AP"] <= 100 for k in res)
    assert os.path.isfile(tmp_path / "inference_TTA" / "coco_instances_results.json")


def test_training_ends_with_one_test_time_augmented_evaluation(tmp_path):
    run_train_net(["--config-file", DEMO_CONFIG, *TINY_OPTS, *TTA_OPTS, "SOLVER.MAX_ITER", "3", "TEST.EVAL_PERIOD", "0",
                   "SOLVER.STEPS", "()", "OUTPUT_DIR", str(tmp_path), "MODEL.MASK_ON", "False"])
    rows = metrics(str(tmp_path))
    tta = [m for m in rows if "bbox_TTA/AP" in m]
    # once, after the last training step (detectron2 logs it at the iteration after it)
    assert len(tta) == 1 and tta[0]["iteration"] >= max(m["iteration"] for m in rows if "total_loss" in m) == 2


def test_test_time_augmentation_refuses_a_model_without_it():
    from scratchdet.config import ConfigError, get_scratchdet_cfg
    from scratchdet.engine.train.trainer import Trainer

    with pytest.raises(ConfigError, match="TEST.AUG.ENABLED"):
        Trainer.test_with_TTA(get_scratchdet_cfg(), torch.nn.Linear(1, 1))
