"""The rules of tools/train_own_data.py (scratchdet.config.budget_recipe): sizes from the
objects, crops from the sizes, a schedule that fills the budget and no more."""

import pytest

from scratchdet.config.budget_recipe import (
    MIN_ITERS,
    SAFETY_SHARE,
    Timings,
    choose_input,
    choose_schedule,
    lr_steps,
    schedule_opts,
)


def test_aerial_tiles_shrink_to_the_object_bound():
    inp = choose_input(400, 1.0, object_px_p50=40, object_px_p95=70)
    assert inp.scale == pytest.approx(0.4) and inp.test_size == 160 and inp.crop == 0  # 16 px / 40 px


def test_large_images_train_on_crops():
    inp = choose_input(400, 1.0, object_px_p50=40, object_px_p95=70, max_median_object_px=64)
    assert inp.test_size == 400 and inp.scale == 1.0
    assert inp.scale == pytest.approx(inp.test_size / 400)
    assert inp.crop == 288  # 4 x 70 px rounded up to 32, above the 256 floor, below the image
    assert "crops" in inp.reason


def test_large_objects_shrink_the_images_and_small_images_are_not_cropped():
    big = choose_input(800, 1.33, object_px_p50=256, object_px_p95=400)
    assert big.scale == pytest.approx(0.25, abs=0.02)  # 16 / 256 is below the 0.25 floor
    assert big.crop == 0  # 4 x 100 px at that scale does not fit in a 200 px image
    small = choose_input(128, 1.0, object_px_p50=16, object_px_p95=27)
    assert small.test_size == 128 and small.crop == 0


def test_a_lower_object_bound_shrinks_the_images_to_it():
    inp = choose_input(400, 1.0, object_px_p50=40, object_px_p95=70, max_median_object_px=24)
    assert inp.scale == pytest.approx(0.6, abs=0.01) and inp.test_size == 240
    assert inp.crop == 0  # the 256 px crop floor is above the 240 px images: whole images


def test_schedule_fills_the_budget_without_passing_it():
    t = Timings(s_per_iter=2.0, s_per_iter_phase1=0.0, eval_s_per_image=0.5, start_s=10)
    s = choose_schedule(2400, 60, t, train_images=27, val_images=11, train_eval_images=27, allow_phase1=False)
    assert (1 - SAFETY_SHARE - 0.03) * 2400 <= s.planned_s <= 2400
    assert s.phase1_iters == 0 and s.iters * 2.0 < 2400 and s.evals >= 1
    assert s.eval_period * (s.evals - 1) < s.iters <= s.eval_period * s.evals  # the last one at the last step
    assert s.passes == pytest.approx(s.iters * 8 / 27, abs=0.1)


def test_few_passes_buy_a_low_resolution_phase1_within_the_same_budget():
    t = Timings(s_per_iter=4.6, s_per_iter_phase1=1.3, eval_s_per_image=0.5, start_s=10)
    s = choose_schedule(1800, 60, t, train_images=300, val_images=20, train_eval_images=0)
    assert s.phase1_iters > 0 and "phase 1" in s.reason
    assert s.planned_s <= 1800
    opts = dict(zip(*[iter(schedule_opts(s, choose_input(400, 1, 40, 70)))] * 2))
    assert opts["SCRATCHDET.PHASE1.ENABLED"] == "True"
    assert opts["SCRATCHDET.PHASE1.SCRATCHDET.DATA.TRAIN_MAPPER"] == "LowResPretrainMapper"
    assert opts["SOLVER.LR_SCHEDULER_NAME"] == "WarmupMultiStepLR" and opts["SOLVER.MAX_ITER"] == str(s.iters)
    assert opts["SOLVER.STEPS"] == str((int(s.iters * 0.75), int(s.iters * 0.9)))  # the LR / 10 at 75%, / 100 at 90%


def test_lr_steps_stay_inside_short_schedules():
    assert lr_steps(400) == (300, 360)
    assert lr_steps(20) == (15, 18) and lr_steps(1) == (1,)  # never step 0, never twice the same


def test_a_budget_too_small_names_the_minimum():
    t = Timings(s_per_iter=4.0, s_per_iter_phase1=0.0, eval_s_per_image=1.0, start_s=10)
    with pytest.raises(ValueError, match=r"too small.*--minutes \d+\.\d") as e:
        choose_schedule(60, 40, t, train_images=20, val_images=5, train_eval_images=0)
    minimum = float(str(e.value).rsplit("--minutes ", 1)[1])
    choose_schedule(minimum * 60 + 1, 40, t, train_images=20, val_images=5, train_eval_images=0)  # enough
    assert minimum * 60 > MIN_ITERS * 4.0


def test_tta_sizes_bracket_the_test_size_and_the_cap_holds_the_largest():
    import ast

    from scratchdet.config.budget_recipe import TTA_SCALES, tta_opts

    opts = dict(zip(tta_opts(138, 160)[::2], tta_opts(138, 160)[1::2]))
    sizes = ast.literal_eval(opts["TEST.AUG.MIN_SIZES"])
    assert len(sizes) == len(TTA_SCALES) and 138 in sizes and min(sizes) < 138 < max(sizes)
    assert int(opts["TEST.AUG.MAX_SIZE"]) >= 160 * max(sizes) / 138  # the largest size is not capped
    assert opts["TEST.AUG.FLIP"] == "True" and "TEST.AUG.ENABLED" not in opts  # validation stays single-scale
