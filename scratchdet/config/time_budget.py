"""Config keys of a schedule bounded by wall-clock time (scratchdet.engine.hooks.time_budget)."""

from detectron2.config import CfgNode as CN


def add_time_budget_config(cfg: CN) -> None:
    """Add SCRATCHDET.TIME_BUDGET (in place)."""
    _C = cfg
    _C.SCRATCHDET.TIME_BUDGET = CN()
    # Seconds (an integer) this phase's training may take, from its first step to the end of its last one
    # (evaluations during training included; the PNGs and files written after it are not). 0: off.
    # Every ADJUST_PERIOD steps the remaining iterations are re-estimated from the step and
    # evaluation times measured so far and SOLVER.MAX_ITER is moved to end on time: the LR schedule
    # (cosine or steps, as fractions of it), the evaluations and model_final.pth follow the new end.
    # A probe before training cannot know the step time to better than ~10-25% (new input shapes,
    # a changing number of proposals, the machine's other load); this measures it as it goes.
    # A --resume starts the budget again. In a two-phase run it is phase 2's (phase 1 trains its
    # MAX_ITER unless SCRATCHDET.PHASE1.SCRATCHDET.TIME_BUDGET.SECONDS sets its own).
    _C.SCRATCHDET.TIME_BUDGET.SECONDS = 0
    # Steps between two re-estimates (the first after this many steps too).
    _C.SCRATCHDET.TIME_BUDGET.ADJUST_PERIOD = 10
    # SOLVER.MAX_ITER moves by at most this share of the configured value, either way (the LR
    # schedule and the EMA window were chosen for it).
    _C.SCRATCHDET.TIME_BUDGET.MAX_CHANGE = 0.5
