"""A schedule bounded by wall-clock time (SCRATCHDET.TIME_BUDGET): SOLVER.MAX_ITER is moved while
training runs so that the last step and the final evaluation end within SECONDS, from the step
and evaluation times measured so far. The LR schedule follows: detectron2's LRMultiplier reads the
schedule at ``iteration / max_iter``, so a new ``max_iter`` stretches or shrinks the cosine (or
the steps, fractions of it) to end at the new last step."""

from __future__ import annotations

import collections
import logging
import math
import time

from detectron2.config import CfgNode
from detectron2.engine import HookBase
from detectron2.engine import hooks as d2_hooks

logger = logging.getLogger(__name__)

# Steps whose durations estimate the step time (the latest: early steps are slower).
WINDOW = 50


def periodic_evals(done: int, last: int, period: int) -> int:
    """Evaluations during training after step ``done`` up to (not at) step ``last``: detectron2's
    EvalHook evaluates after each multiple of ``period`` except the last step, whose evaluation
    comes after training."""
    if period <= 0 or last <= done:
        return 0
    return (last - 1) // period - done // period


def iterations_that_fit(done: int, remaining_s: float, step_s: float, eval_s: float, period: int) -> int:
    """The largest number of steps in total (``done`` of them done) whose remaining steps and
    periodic evaluations take at most ``remaining_s`` (at least ``done`` + 1)."""
    def cost(last: int) -> float:
        return (last - done) * step_s + periodic_evals(done, last, period) * eval_s

    per_step = step_s + (eval_s / period if period > 0 else 0.0)
    last = done + max(1, int(remaining_s // max(per_step, 1e-9)))
    while last > done + 1 and cost(last) > remaining_s:
        last -= 1
    while cost(last + 1) <= remaining_s:
        last += 1
    return last


class TimeBudgetHook(HookBase):
    """Re-estimates the last iteration every ADJUST_PERIOD steps; place it after the hooks whose
    work belongs to a step (evaluation, best checkpoint), so that their time is measured."""

    def __init__(self, cfg: CfgNode):
        b = cfg.SCRATCHDET.TIME_BUDGET
        self.seconds = float(b.SECONDS)
        self.period = int(b.ADJUST_PERIOD)
        self.eval_period = int(cfg.TEST.EVAL_PERIOD)
        self.evaluates = bool(cfg.DATASETS.TEST)
        planned = int(cfg.SOLVER.MAX_ITER)
        self.lo = max(1, math.ceil(planned * (1 - b.MAX_CHANGE)))
        self.hi = max(self.lo, math.floor(planned * (1 + b.MAX_CHANGE)))
        self._steps: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self._eval_extra: list[float] = []
        self._warned = False

    def before_train(self) -> None:
        self._t0 = time.perf_counter()

    def before_step(self) -> None:
        self._step_t0 = time.perf_counter()

    def after_step(self) -> None:
        now = time.perf_counter()
        duration = now - self._step_t0
        done = self.trainer.iter + 1
        evaluated = self.evaluates and self.eval_period > 0 and done % self.eval_period == 0 \
            and done != self.trainer.max_iter
        if evaluated and self._steps:
            self._eval_extra.append(max(0.0, duration - sum(self._steps) / len(self._steps)))
        elif not evaluated:
            self._steps.append(duration)
        if done % self.period or done >= self.trainer.max_iter or len(self._steps) < min(self.period, WINDOW):
            return
        if self.evaluates and self.eval_period > 0 and not self._eval_extra and done < self.eval_period:
            return  # an evaluation's cost is not known yet: wait for the first one
        self._adjust(done, now)

    def _adjust(self, done: int, now: float) -> None:
        step_s = sum(self._steps) / len(self._steps)
        eval_s = sum(self._eval_extra) / len(self._eval_extra) if self._eval_extra else 0.0
        final_eval_s = eval_s if self.evaluates else 0.0  # the evaluation after training
        remaining = self.seconds - (now - self._t0) - final_eval_s
        last = iterations_that_fit(done, remaining, step_s, eval_s, self.eval_period)
        clamped = min(self.hi, max(self.lo, last, done + 1))
        if clamped != last and not self._warned:
            self._warned = True
            logger.warning(f"SCRATCHDET.TIME_BUDGET: {last} iterations would fit {self.seconds:.0f} s, outside "
                           f"MAX_CHANGE's [{self.lo}, {self.hi}]: kept at {clamped}.")
        if clamped != self.trainer.max_iter:
            logger.info(f"SCRATCHDET.TIME_BUDGET: {step_s:.2f} s/step, {eval_s:.1f} s/evaluation measured; "
                        f"MAX_ITER {self.trainer.max_iter} -> {clamped} to end within {self.seconds:.0f} s.")
            self.set_max_iter(clamped)

    def set_max_iter(self, last: int) -> None:
        """Move the trainer's last iteration and everything that was told the old one."""
        t = self.trainer
        t.max_iter = last
        scheduler = getattr(t, "scheduler", None)
        if hasattr(scheduler, "_max_iter"):  # detectron2's LRMultiplier
            scheduler._max_iter = last
        for h in t._hooks:
            if isinstance(h, d2_hooks.PeriodicCheckpointer):  # saves model_final at its max_iter
                h.max_iter = last
            if isinstance(h, d2_hooks.LRScheduler) and hasattr(h._scheduler, "_max_iter"):
                h._scheduler._max_iter = last
            if isinstance(h, d2_hooks.PeriodicWriter):
                for w in h._writers:
                    if hasattr(w, "_max_iter"):  # CommonMetricPrinter's ETA
                        w._max_iter = last
