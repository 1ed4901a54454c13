"""--resume with a changed config (in-process through train_net.py): a change the checkpoints
cannot follow is refused with one line naming the keys, and nothing is written; the schedule of
the new config applies (not the checkpoint's learning rates); OUTPUT_DIR/config.yaml stays the
record of the config the run started with."""

import os
import shutil

import pytest
import torch

from scratchdet.engine.train.resume_check import config_changes, is_architecture_key
from tests.conftest import assert_user_error, train_demo

LR = 0.02


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """A run of 2 iterations (checkpoints model_0000000.pth, model_final.pth) with SOLVER.BASE_LR 0.02."""
    out = tmp_path_factory.mktemp("started")
    code, err = train_demo(out, "SOLVER.BASE_LR", str(LR))
    assert code == 0, err
    yield out
    shutil.rmtree(out, ignore_errors=True)  # a module's folder outlives tmp_path_retention_policy


@pytest.fixture
def run_dir(started, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(started, out)
    return out


def _snapshot(out):
    return {f: (out / f).read_bytes() for f in sorted(os.listdir(out))
            if f.endswith(".pth") or f in ("last_checkpoint", "config.yaml")}


ARCHITECTURE = {
    "depth": (["MODEL.RESNETS.DEPTH", "34"], "MODEL.RESNETS.DEPTH"),
    "fpn_channels": (["MODEL.FPN.OUT_CHANNELS", "128"], "MODEL.FPN.OUT_CHANNELS"),
    "num_classes": (["MODEL.ROI_HEADS.NUM_CLASSES", "3"], "MODEL.ROI_HEADS.NUM_CLASSES"),
    "mask_off": (["MODEL.MASK_ON", "False"], "MODEL.MASK_ON"),
    "norm": (["MODEL.RESNETS.NORM", "GN"], "MODEL.RESNETS.NORM"),
    "norm_policy": (["SCRATCHDET.NORM.ALL", "GN"], "SCRATCHDET.NORM.ALL"),
    "pixel_mean": (["MODEL.PIXEL_MEAN", "[0.0, 0.0, 0.0]"], "MODEL.PIXEL_MEAN"),
    "meta_architecture": (["MODEL.META_ARCHITECTURE", "RetinaNet"], "MODEL.META_ARCHITECTURE"),
    "optimizer": (["SCRATCHDET.SOLVER.OPTIMIZER", "AdamW"], "SCRATCHDET.SOLVER.OPTIMIZER"),
    "two_phases": (["SCRATCHDET.PHASE1.ENABLED", "True"], "SCRATCHDET.PHASE1.ENABLED"),
}


@pytest.mark.parametrize("case", sorted(ARCHITECTURE))
def test_architecture_change_is_refused_and_nothing_written(run_dir, case):
    opts, key = ARCHITECTURE[case]
    before = _snapshot(run_dir)
    code, err = train_demo(run_dir, "SOLVER.MAX_ITER", "4", *opts, resume=True)
    first = assert_user_error(code, err, key, "new OUTPUT_DIR", "MODEL.WEIGHTS")
    assert "config.yaml" in first
    assert _snapshot(run_dir) == before  # the record and every checkpoint untouched
    assert not (run_dir / "config_resume.yaml").exists()


def test_two_architecture_changes_are_both_named(run_dir):
    code, err = train_demo(run_dir, "SOLVER.MAX_ITER", "4", "MODEL.RESNETS.DEPTH", "34", "MODEL.FPN.OUT_CHANNELS", "128",
                      resume=True)
    assert_user_error(code, err, "MODEL.RESNETS.DEPTH", "MODEL.FPN.OUT_CHANNELS")


def test_new_learning_rate_applies_and_the_record_is_kept(run_dir):
    record = (run_dir / "config.yaml").read_bytes()
    code, err = train_demo(run_dir, "SOLVER.MAX_ITER", "4", "SOLVER.BASE_LR", "0.005", "SOLVER.WEIGHT_DECAY", "0.001",
                      resume=True)
    assert code == 0, err
    final = _load(run_dir / "model_final.pth")
    assert final["iteration"] == 3  # MAX_ITER extended from 2 to 4
    groups = final["trainer"]["_trainer"]["optimizer"]["param_groups"]
    # the new config's LR and weight decay, not the checkpoint's (detectron2 kept 0.02)
    assert {g["initial_lr"] for g in groups} == {0.005}
    assert {g["weight_decay"] for g in groups} <= {0.001, 0.0}  # norms may have their own (0)
    assert final["trainer"]["hooks"]["LRScheduler"]["base_lrs"] == [0.005] * len(groups)
    assert all(g["lr"] <= 0.005 for g in groups)
    assert (run_dir / "config.yaml").read_bytes() == record
    assert "BASE_LR: 0.005" in (run_dir / "config_resume.yaml").read_text()


def test_unchanged_resume_keeps_the_record(run_dir):
    record = (run_dir / "config.yaml").read_bytes()
    code, err = train_demo(run_dir, "SOLVER.BASE_LR", str(LR), "SOLVER.MAX_ITER", "3", resume=True)
    assert code == 0, err
    assert (run_dir / "config.yaml").read_bytes() == record
    groups = _load(run_dir / "model_final.pth")["trainer"]["_trainer"]["optimizer"]["param_groups"]
    assert {g["initial_lr"] for g in groups} == {LR}


def test_max_iter_below_the_checkpoint_is_refused(run_dir):
    before = _snapshot(run_dir)
    code, err = train_demo(run_dir, "SOLVER.BASE_LR", str(LR), "SOLVER.MAX_ITER", "1", resume=True)
    assert_user_error(code, err, "SOLVER.MAX_ITER=1", "iteration 2", "--eval-only")
    assert _snapshot(run_dir) == before


def test_unreadable_record_is_named(run_dir):
    (run_dir / "config.yaml").write_text("- not\n- a config\n")
    code, err = train_demo(run_dir, "SOLVER.MAX_ITER", "4", resume=True)
    assert_user_error(code, err, "config.yaml", "new OUTPUT_DIR")


def test_test_time_and_sampling_keys_are_not_architecture():
    for key in ("MODEL.ROI_HEADS.SCORE_THRESH_TEST", "MODEL.RPN.POST_NMS_TOPK_TRAIN", "MODEL.WEIGHTS", "MODEL.DEVICE",
                "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "MODEL.RPN.LOSS_WEIGHT", "SOLVER.BASE_LR", "INPUT.MIN_SIZE_TRAIN",
                "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "SCRATCHDET.RUN_PHASES"):
        assert not is_architecture_key(key), key
    for key in ("MODEL.RESNETS.DEPTH", "MODEL.FPN.NORM", "SCRATCHDET.PHASE1.MODEL.RESNETS.DEPTH", "SCRATCHDET.DEYO.HIDDEN_DIM",
                "SCRATCHDET.PHASE1.ENABLED"):
        assert is_architecture_key(key), key


def test_phase1_block_compared_by_its_value_in_phase1():
    rec = {"MODEL": {"RESNETS": {"DEPTH": 18}}, "SCRATCHDET": {"PHASE1": {"ENABLED": True}}}
    # the block now sets the value phase 1 already had: no change
    same = {"MODEL": {"RESNETS": {"DEPTH": 18}}, "SCRATCHDET": {"PHASE1": {"ENABLED": True, "MODEL": {"RESNETS": {"DEPTH": 18}}}}}
    assert config_changes(rec, same) == []
    other = {"MODEL": {"RESNETS": {"DEPTH": 18}}, "SCRATCHDET": {"PHASE1": {"ENABLED": True, "MODEL": {"RESNETS": {"DEPTH": 50}}}}}
    assert config_changes(rec, other) == [("SCRATCHDET.PHASE1.MODEL.RESNETS.DEPTH", 18, 50)]
