from .hooks.registry import HOOK_REGISTRY, build_hooks_from_config
from .hooks import erf_refresh, mae_reconstruction  # registered hooks (SCRATCHDET.HOOKS)
from .setup.plan import checked_dicts, resolve_config
from .run.runner import evaluate, train
from .setup.checks import check_run_config
from .train.trainer import Trainer

__all__ = ["HOOK_REGISTRY", "build_hooks_from_config", "Trainer", "check_run_config", "checked_dicts", "evaluate",
           "resolve_config", "train"]
