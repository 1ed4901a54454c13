from .hook_registry import HOOK_REGISTRY, build_hooks_from_config
from .hooks import erf_refresh, loss_curve, mae_reconstruction, prediction_png
from .runner import evaluate, train
from .setup import check_run_config
from .trainer import Trainer, load_checked_dataset

__all__ = ["HOOK_REGISTRY", "build_hooks_from_config", "Trainer", "check_run_config", "evaluate",
           "load_checked_dataset", "train"]
