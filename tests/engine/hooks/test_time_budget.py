"""SCRATCHDET.TIME_BUDGET: the last iteration is re-estimated from measured step and evaluation
times, and the LR schedule, the final checkpoint and the evaluation follow it."""

import json
import os

import pytest
import torch
from detectron2.solver.lr_scheduler import LRMultiplier, WarmupParamScheduler
from fvcore.common.param_scheduler import CosineParamScheduler

from scratchdet.config import ConfigError, load_config_file
from scratchdet.engine import train
from scratchdet.engine.hooks.time_budget import iterations_that_fit, periodic_evals
from scratchdet.engine.setup.checks import check_run_config
from tests.conftest import DEMO_CONFIG, TINY_OPTS


def test_evaluations_are_counted_as_detectron2_runs_them():
    assert periodic_evals(0, 100, 25) == 3  # after 25, 50, 75; the one at 100 comes after training
    assert periodic_evals(30, 100, 25) == 2
    assert periodic_evals(0, 100, 0) == 0 and periodic_evals(50, 50, 10) == 0


def test_iterations_that_fit_the_remaining_time():
    # 100 s left, 1 s a step, evaluations of 10 s every 20 steps: 80 steps + 3 evaluations (at 40, 60, 80) = 110 > 100.
    last = iterations_that_fit(20, 100.0, 1.0, 10.0, 20)
    assert (last - 20) * 1.0 + periodic_evals(20, last, 20) * 10.0 <= 100.0
    assert (last + 1 - 20) * 1.0 + periodic_evals(20, last + 1, 20) * 10.0 > 100.0
    assert iterations_that_fit(20, 100.0, 1.0, 0.0, 0) == 120
    assert iterations_that_fit(20, -5.0, 1.0, 0.0, 0) == 21  # over budget already: stop at the next step


def test_a_new_last_iteration_stretches_the_lr_schedule():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LRMultiplier(opt, WarmupParamScheduler(CosineParamScheduler(1, 0), 1.0, 0.0), max_iter=100)
    for _ in range(50):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5, abs=1e-6)  # half-way down the cosine
    sched._max_iter = 50  # what TimeBudgetHook.set_max_iter writes
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=2e-3)  # the end of the cosine


def test_bad_values_name_the_key():
    with pytest.raises(ConfigError, match="SCRATCHDET.TIME_BUDGET.MAX_CHANGE=1.5"):
        check_run_config(load_config_file(DEMO_CONFIG, ["SCRATCHDET.TIME_BUDGET.SECONDS", "10",
                                                        "SCRATCHDET.TIME_BUDGET.MAX_CHANGE", "1.5"]))


def test_training_ends_when_its_budget_is_spent(tmp_path):
    # 400 tiny steps would take minutes: a 15 s budget ends far earlier, with model_final and the
    # cosine at its end (the evaluations' share is iterations_that_fit's, tested above).
    cfg = load_config_file(DEMO_CONFIG, [
        *TINY_OPTS, "SOLVER.MAX_ITER", "400", "SOLVER.LR_SCHEDULER_NAME", "WarmupCosineLR", "SOLVER.STEPS", "()",
        "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()", "SCRATCHDET.BEST_CHECKPOINT.METRIC", "",
        "SCRATCHDET.VIS.NUM_IMAGES", "0", "SCRATCHDET.TIME_BUDGET.SECONDS", "15",
        "SCRATCHDET.TIME_BUDGET.ADJUST_PERIOD", "5", "SCRATCHDET.TIME_BUDGET.MAX_CHANGE", "0.99",
        "SOLVER.CHECKPOINT_PERIOD", "1000", "OUTPUT_DIR", str(tmp_path)])
    cfg.freeze()
    train(cfg, resume=False)
    rows = [json.loads(line) for line in open(tmp_path / "metrics.json")]
    last = max(r["iteration"] for r in rows if "lr" in r) + 1
    assert 10 <= last < 400
    assert min(r["lr"] for r in rows if "lr" in r and r["iteration"] >= last - 20) < 0.05 * cfg.SOLVER.BASE_LR
    ckpt = torch.load(os.path.join(tmp_path, "model_final.pth"), map_location="cpu", weights_only=True)
    assert ckpt["iteration"] == last - 1
