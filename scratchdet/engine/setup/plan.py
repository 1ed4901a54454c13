"""The one set-up step of a run: everything derived from the config is decided here, once, before
any phase trains; afterwards models, mappers and evaluators only read their (frozen) config.

In order (``plan_run``):

1. the datasets the config declares are registered (SCRATCHDET.DATA.*) and the embedded ones'
   files built (once per run);
2. each phase's config is made (``phases.phase1_config`` / ``phase2_config``; the norm policy is
   resolved as a config is loaded or a phase's config is made, ``config.norm_policy``);
3. per phase, once: every check (``setup.check_run_config``: the config's own, then the feature
   names against the backbone), the training dicts loaded and checked, the model's number of
   classes checked against them (and written in where the model declares "0 = from the data",
   ``modeling.needs``), a schedule in epochs turned into iterations; the config is frozen.

The trainer receives the phase's training dicts (:class:`PhasePlan`), so the mapper's image
pool (Mosaic, Copy-Paste) and the loader share one load.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.utils import comm

from ...config.checks import epoch_errors
from ...config.errors import ConfigError, raise_config_errors
from ...config.keys import get_key, has_key
from ...data.dataset_dicts import class_count_error, drop_unannotated_images, load_checked_dataset
from ...data.datasets import ensure_dataset_files, register_datasets_from_config
from ...modeling.needs import config_needs
from .checks import check_run_config

logger = logging.getLogger(__name__)


@dataclass
class PhasePlan:
    """A phase as the set-up step resolved it.

    Args:
        cfg: the phase's config, derived values written in, checked, frozen.
        phase: 1, 2, ... in a multi-phase run; None for a single-phase run.
        train_dicts: DATASETS.TRAIN's dicts, checked, images without annotations kept (the
            loader filters them per DATALOADER.FILTER_EMPTY_ANNOTATIONS); None when not training.
    """

    cfg: CfgNode
    phase: int | None = None
    train_dicts: list[dict] | None = None


def register_run_datasets(cfg: CfgNode) -> list[str]:
    """Register the datasets of ``cfg`` (and of its PHASE1 block) and build the embedded ones'
    files; the names of every dataset the run reads. Once per run."""
    names = register_datasets_from_config(cfg)
    block = cfg.SCRATCHDET.PHASE1
    used = [*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST, *cfg.SCRATCHDET.SELF_TRAINING.UNLABELLED]
    if block.get("ENABLED", False) and "DATASETS" in block:
        used += [*block.DATASETS.get("TRAIN", ()), *block.DATASETS.get("TEST", ())]
    for name in dict.fromkeys(used):
        if name in DatasetCatalog.list():
            ensure_dataset_files(name)
    return names


def dataset_classes(name: str) -> list[str] | None:
    """thing_classes of a registered dataset (COCO-json loaders set them while loading: loaded then)."""
    classes = MetadataCatalog.get(name).get("thing_classes")
    if classes is None and name in DatasetCatalog.list():
        DatasetCatalog.get(name)
        classes = MetadataCatalog.get(name).get("thing_classes")
    return list(classes) if classes is not None else None


def model_classes(cfg: CfgNode) -> tuple[str, int] | None:
    """(key, value) of the number of classes the model predicts, when it predicts dataset classes
    and the value is set (a 0 the set-up step fills from the data is not yet a count)."""
    key = config_needs(cfg).num_classes_key
    if key is None or not has_key(cfg, key) or get_key(cfg, key) <= 0:
        return None
    return key, int(get_key(cfg, key))


def resolve_class_counts(cfg: CfgNode, check: bool = True) -> CfgNode:
    """``cfg`` with the model's number of classes written in from DATASETS.TRAIN[0] where the model
    declares that 0 means "from the data" (DEYO, jigsaw), else (``check``) checked against it. The
    one place that reads a class count from a dataset for the config."""
    needs = config_needs(cfg)
    key = needs.num_classes_key
    if key is None or not has_key(cfg, key):
        return cfg
    name = cfg.DATASETS.TRAIN[0] if cfg.DATASETS.TRAIN else None
    if needs.classes_from_data and get_key(cfg, key) <= 0:
        classes = dataset_classes(name) if name else None
        if classes is None:
            where = f"dataset '{name}' has no thing_classes" if name else "DATASETS.TRAIN is empty"
            raise ConfigError(f"{key} is 0 (from the data) but {where}: set {key}.")
        out = cfg.clone()
        out.defrost()
        *parents, leaf = key.split(".")
        get_key(out, ".".join(parents))[leaf] = len(classes)
        logger.info(f"{key} 0 -> {len(classes)}: the classes of '{name}'.")
        return out
    classes = dataset_classes(name) if check and name else None
    if classes is not None and get_key(cfg, key) != len(classes):
        raise class_count_error(name, classes, key, get_key(cfg, key))
    return cfg


def checked_dicts(cfg: CfgNode, names: Sequence[str], is_train: bool, **kwargs) -> list[dict]:
    """:func:`~scratchdet.data.dataset_dicts.load_checked_dataset` with what the model needs of
    them: annotations that fit a detector (unless it predicts no classes, e.g. MAE) and as many
    classes as the model predicts."""
    labels = config_needs(cfg).num_classes_key is not None
    return load_checked_dataset(cfg, names, is_train, labels_required=labels, model_classes=model_classes(cfg), **kwargs)


def epochs_to_iterations(cfg: CfgNode, train_images: int) -> CfgNode:
    """``cfg`` with SOLVER.MAX_ITER / STEPS computed from SOLVER.MAX_EPOCHS / STEPS_EPOCHS and the
    number of training images (when MAX_EPOCHS > 0; logged), else ``cfg`` itself."""
    if not cfg.SOLVER.MAX_EPOCHS:
        return cfg
    raise_config_errors(epoch_errors(lambda k: get_key(cfg, k)))
    per_epoch = max(1, math.ceil(train_images / cfg.SOLVER.IMS_PER_BATCH))
    out = cfg.clone()
    out.defrost()
    out.SOLVER.MAX_ITER = int(round(cfg.SOLVER.MAX_EPOCHS * per_epoch))
    out.SOLVER.STEPS = tuple(int(round(e * per_epoch)) for e in cfg.SOLVER.STEPS_EPOCHS) or tuple(cfg.SOLVER.STEPS)
    out.SOLVER.STEPS = tuple(s for s in out.SOLVER.STEPS if s < out.SOLVER.MAX_ITER)
    logger.info(f"Schedule in epochs: {train_images} training images / {cfg.SOLVER.IMS_PER_BATCH} per batch = "
                f"{per_epoch} iterations per epoch; SOLVER.MAX_EPOCHS {cfg.SOLVER.MAX_EPOCHS} -> MAX_ITER "
                f"{out.SOLVER.MAX_ITER}, STEPS_EPOCHS {tuple(cfg.SOLVER.STEPS_EPOCHS)} -> STEPS {out.SOLVER.STEPS}.")
    return out


def plan_phase(cfg: CfgNode, world_size: int = 1, training: bool = True, phase: int | None = None,
               check: bool = True) -> PhasePlan:
    """Resolve one phase whose datasets are registered: checks (``check`` False when the caller
    ran them on the config this phase comes from), class counts, the training dicts, epochs."""
    if check:
        check_run_config(cfg, world_size=world_size, training=training)
    dicts = None
    if training:  # loaded first (a COCO json's classes are known once it is read), classes checked
        dicts = checked_dicts(cfg, cfg.DATASETS.TRAIN, is_train=True, filter_empty=False)
    # Filled from the training data where the model says so; an evaluation checks its test set's.
    cfg = resolve_class_counts(cfg, check=False)
    if training:
        cfg = epochs_to_iterations(cfg, len(drop_unannotated_images(dicts, cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)))
    cfg = cfg.clone()
    cfg.freeze()
    return PhasePlan(cfg, phase, dicts)


def set_up(cfg: CfgNode, training: bool = False) -> PhasePlan:
    """The whole set-up step of a single-phase config used outside the runner (a Trainer built in
    the user's own code, tools, notebooks): datasets registered, then :func:`plan_phase`."""
    register_run_datasets(cfg)
    return plan_phase(cfg, comm.get_world_size(), training=training)


def resolve_config(cfg: CfgNode, training: bool = False) -> CfgNode:
    """:func:`set_up`'s frozen config, for code that builds a model or a loader from it."""
    return set_up(cfg, training).cfg
