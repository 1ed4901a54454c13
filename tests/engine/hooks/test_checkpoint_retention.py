"""SCRATCHDET.CHECKPOINT.MAX_TO_KEEP: only the newest periodic checkpoints stay, across --resume."""

import os

import torch

from scratchdet.engine.hooks.checkpoint_retention import periodic_checkpoints
from tests.conftest import DEMO_CONFIG, TINY_OPTS, run_cli

TRAIN = [*TINY_OPTS, "SOLVER.CHECKPOINT_PERIOD", "1", "SOLVER.STEPS", "()", "TEST.EVAL_PERIOD", "0",
         "DATASETS.TEST", "()", "SCRATCHDET.VIS.NUM_IMAGES", "0"]


def _train(out, max_iter, *opts, resume=False):
    code, err = run_cli(["--config-file", DEMO_CONFIG, *(["--resume"] if resume else []), *TRAIN,
                         "OUTPUT_DIR", str(out), "SOLVER.MAX_ITER", str(max_iter), *opts])
    assert code == 0, err


def _pth(out):
    return sorted(f for f in os.listdir(out) if f.endswith(".pth"))


def test_newest_checkpoints_kept_and_resume_counts_the_earlier_ones(tmp_path):
    # A first run keeping everything (detectron2's default) ...
    _train(tmp_path, 5)
    assert _pth(tmp_path) == [f"model_000000{i}.pth" for i in range(5)] + ["model_final.pth"]
    # ... resumed with a limit: the earlier run's files count, so only the 2 newest remain.
    _train(tmp_path, 7, "SCRATCHDET.CHECKPOINT.MAX_TO_KEEP", "2", resume=True)
    assert _pth(tmp_path) == ["model_0000005.pth", "model_0000006.pth", "model_final.pth"]
    # What remains is whole and --resume reads it.
    assert torch.load(tmp_path / "model_0000006.pth", map_location="cpu", weights_only=False)["iteration"] == 6
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"
    _train(tmp_path, 8, "SCRATCHDET.CHECKPOINT.MAX_TO_KEEP", "2", resume=True)
    assert _pth(tmp_path) == ["model_0000006.pth", "model_0000007.pth", "model_final.pth"]


def test_files_of_a_longer_earlier_run_are_not_counted(tmp_path):
    """A folder holding checkpoints past the resume point (a longer run, then --resume from an
    older tag): only this run's past is counted, the later files are not this history's."""
    for i in (0, 1, 2, 8, 9):
        (tmp_path / f"model_{i:07d}.pth").write_bytes(b"x")
    (tmp_path / "model_final.pth").write_bytes(b"x")
    (tmp_path / "model_best.pth").write_bytes(b"x")
    assert periodic_checkpoints(str(tmp_path), before_iter=3) == [
        str(tmp_path / f"model_{i:07d}.pth") for i in (0, 1, 2)]
    assert len(periodic_checkpoints(str(tmp_path))) == 5
    assert periodic_checkpoints(str(tmp_path / "missing")) == []
