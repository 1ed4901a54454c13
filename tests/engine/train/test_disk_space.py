"""The warning before training when the checkpoints of a run will not fit on OUTPUT_DIR's disk."""

import io
from collections import namedtuple

import pytest
import torch

from scratchdet.engine.train import disk_space
from scratchdet.engine.train.disk_space import checkpoint_bytes, checkpoints_to_write, warn_if_checkpoints_do_not_fit

Usage = namedtuple("Usage", "total used free")


@pytest.mark.parametrize("start,max_iter,period,keep,best,expect", [
    (0, 10, 3, 0, False, 4),   # iterations 2, 5, 8, and model_final
    (0, 10, 3, 2, False, 3),   # only the 2 newest periodic ones stay
    (0, 10, 3, 0, True, 5),    # and model_best.pth
    (7, 10, 3, 0, False, 2),   # resumed at 7: iteration 8, and model_final
    (0, 10, 100, 0, False, 1),
    (9, 10, 3, 0, False, 1),   # resumed after the last periodic one
    (0, 10**7, 5000, 0, False, 2001),
])
def test_number_of_checkpoint_files(start, max_iter, period, keep, best, expect):
    assert checkpoints_to_write(start, max_iter, period, keep, best) == expect


@pytest.mark.parametrize("make_opt", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
    lambda p: torch.optim.SGD(p, lr=0.1),
    lambda p: torch.optim.AdamW(p, lr=0.1),
])
def test_estimate_is_the_size_of_a_saved_checkpoint(make_opt):
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.BatchNorm1d(256))
    opt = make_opt(model.parameters())
    estimate = checkpoint_bytes(model, opt)  # before the first step, when the state is still empty
    model(torch.randn(4, 256)).sum().backward()
    opt.step()
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "iteration": 1}, buf)
    assert 0.95 * buf.tell() <= estimate <= buf.tell()


def test_warns_naming_the_folder_and_the_keys(tiny_cfg, scratchdet_warnings, monkeypatch, tmp_path):
    cfg = tiny_cfg("OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITER", "100", "SOLVER.CHECKPOINT_PERIOD", "10")
    model = torch.nn.Linear(1000, 1000)  # 4 MB, 8 MB with SGD's momentum
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    monkeypatch.setattr(disk_space.shutil, "disk_usage", lambda path: Usage(10**9, 0, 50 * 10**6))
    assert warn_if_checkpoints_do_not_fit(cfg, model, opt, start_iter=0)
    assert len(scratchdet_warnings) == 1
    msg = scratchdet_warnings[0]
    assert str(tmp_path) in msg and "SCRATCHDET.CHECKPOINT.MAX_TO_KEEP" in msg and "SOLVER.CHECKPOINT_PERIOD" in msg
    # the same run keeping 3 periodic files fits (4 files of 8 MB in 50 MB)
    cfg = tiny_cfg("OUTPUT_DIR", str(tmp_path), "SOLVER.MAX_ITER", "100", "SOLVER.CHECKPOINT_PERIOD", "10",
                   "SCRATCHDET.CHECKPOINT.MAX_TO_KEEP", "3", "TEST.EVAL_PERIOD", "0")
    assert not warn_if_checkpoints_do_not_fit(cfg, model, opt, start_iter=0)
    assert len(scratchdet_warnings) == 1


def test_folder_not_made_yet_reads_its_parents_disk(tiny_cfg, tmp_path):
    cfg = tiny_cfg("OUTPUT_DIR", str(tmp_path / "run" / "phase1"), "SOLVER.MAX_ITER", "10")
    model = torch.nn.Linear(4, 4)
    assert not warn_if_checkpoints_do_not_fit(cfg, model, torch.optim.SGD(model.parameters(), lr=0.1), 0)
