"""Training and evaluation from a LazyConfig ``.py`` file (``train_net.py --config-file X.py``),
as detectron2's ``tools/lazyconfig_train_net.py``: the config holds ``model``, ``dataloader``
(``train``, ``test``, optional ``evaluator``), ``optimizer``, ``lr_multiplier`` and ``train``
objects, built with ``instantiate``; command-line opts are ``key=value`` overrides
(e.g. ``train.max_iter=100``).

scratchdet's differences: the embedded datasets named in the config are built before use,
checkpoints are written atomically (ScratchCheckpointer), and DDP also runs on CPU (gloo).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.engine import (
    AMPTrainer,
    SimpleTrainer,
    create_ddp_model,
    default_setup,
    default_writers,
    hooks,
)
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm
from omegaconf import DictConfig, ListConfig

from ...checkpoint import ScratchCheckpointer
from ...config.errors import ConfigError
from ...data.datasets import ensure_dataset_files
from ..hooks.checkpoint_retention import RetainingPeriodicCheckpointer

__all__ = ["do_test", "do_train", "load_lazy_config", "main"]

logger = logging.getLogger("detectron2")


def _dataset_names(node: Any) -> list[str]:
    """Dataset names (``names=`` of dataset loaders, ``dataset_name=`` of evaluators) in a config."""
    found = []
    if isinstance(node, DictConfig):
        for key, value in node.items():
            if key in ("names", "dataset_name"):
                found += [value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]
            else:
                found += _dataset_names(value)
    elif isinstance(node, ListConfig):
        for value in node:
            found += _dataset_names(value)
    return found


def load_lazy_config(path: str, opts: list[str] | None = None) -> DictConfig:
    """A LazyConfig file with ``key=value`` overrides, its embedded datasets built."""
    cfg = LazyConfig.apply_overrides(LazyConfig.load(path), list(opts or []))
    # The embedded "shapes" files are made on first use; evaluators read their json at once.
    for name in dict.fromkeys(_dataset_names(cfg.get("dataloader", DictConfig({})))):
        ensure_dataset_files(name)
    return cfg


def _ddp(cfg: DictConfig, model: torch.nn.Module) -> torch.nn.Module:
    kwargs = dict(cfg.train.get("ddp", {}))
    if not str(cfg.train.device).startswith("cuda"):
        kwargs["device_ids"] = None  # gloo on CPU: detectron2 would pass the local rank as a GPU id
    return create_ddp_model(model, **kwargs)


def do_test(cfg: DictConfig, model: torch.nn.Module) -> dict:
    """Evaluate on ``dataloader.test`` with ``dataloader.evaluator`` ({} without one, e.g. after the
    override ``dataloader.evaluator=null``)."""
    if cfg.dataloader.get("evaluator") is None:
        return {}
    ret = inference_on_dataset(model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator))
    if comm.is_main_process():
        print_csv_format(ret)
    return ret


def _periodic_checkpointer(checkpointer, options: DictConfig) -> hooks.PeriodicCheckpointer:
    """``train.checkpointer`` as detectron2 reads it; with ``max_to_keep`` (detectron2's common
    train config sets 100), files left by an earlier run of the folder count too (``--resume``)."""
    options = dict(options)
    keep = options.pop("max_to_keep", None)
    if keep is not None and (not isinstance(keep, int) or keep < 0):
        raise ConfigError(f"train.checkpointer.max_to_keep={keep!r}: use how many of the newest periodic "
                          "checkpoints to keep (e.g. 3), or 0 / None to keep every one.")
    if keep:
        return RetainingPeriodicCheckpointer(checkpointer, max_to_keep=keep, **options)
    return hooks.PeriodicCheckpointer(checkpointer, **options)


def do_train(args: argparse.Namespace, cfg: DictConfig) -> None:
    """Train ``cfg.model`` for ``train.max_iter`` iterations (resuming with ``--resume``), with
    periodic checkpoints, evaluation every ``train.eval_period`` and at the end, and metrics."""
    model = instantiate(cfg.model)
    logger.info("Model:\n%s", model)
    model.to(cfg.train.device)
    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)
    train_loader = instantiate(cfg.dataloader.train)
    model = _ddp(cfg, model)
    trainer = (AMPTrainer if cfg.train.amp.enabled else SimpleTrainer)(model, train_loader, optimizer)
    checkpointer = ScratchCheckpointer(model, cfg.train.output_dir, trainer=trainer)
    main_process = comm.is_main_process()
    trainer.register_hooks([
        hooks.IterationTimer(),
        hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
        _periodic_checkpointer(checkpointer, cfg.train.checkpointer) if main_process else None,
        hooks.EvalHook(cfg.train.eval_period, lambda: do_test(cfg, model)),
        hooks.PeriodicWriter(default_writers(cfg.train.output_dir, cfg.train.max_iter),
                             period=cfg.train.log_period) if main_process else None,
    ])
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    start_iter = trainer.iter + 1 if args.resume and checkpointer.has_checkpoint() else 0
    trainer.train(start_iter, cfg.train.max_iter)


def main(args: argparse.Namespace) -> dict | None:
    """``train_net.py`` for a ``.py`` config: train, or evaluate ``train.init_checkpoint`` with
    ``--eval-only``."""
    cfg = load_lazy_config(args.config_file, args.opts)
    default_setup(cfg, args)
    if args.eval_only:
        model = instantiate(cfg.model)
        model.to(cfg.train.device)
        model = _ddp(cfg, model)
        ScratchCheckpointer(model).load(cfg.train.init_checkpoint)
        return do_test(cfg, model)
    do_train(args, cfg)
    return None
