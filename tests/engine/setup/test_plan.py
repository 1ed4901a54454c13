"""The set-up step resolves once: in a two-phase run the datasets are registered once, the norm
policy resolved and the checks run once per phase, and each phase's training set is loaded once
(the Copy-Paste mapper draws from the trainer's dicts); afterwards the models read their config
(DEYO's and jigsaw's "0 classes = from the data" is written in by the set-up step)."""

import sys

import pytest
from detectron2.data import MetadataCatalog

import scratchdet.config.loading
import scratchdet.data.dataset_dicts
import scratchdet.data.datasets.from_config
import scratchdet.engine.setup.checks
from scratchdet.config import ConfigError, load_config_file
from scratchdet.engine import Trainer, train
from scratchdet.engine.setup.plan import plan_phase, register_run_datasets, resolve_class_counts
from tests.conftest import DEMO_CONFIG, REPO, TINY_OPTS

DEYO = f"{REPO}/projects/DEYO/configs/deyo_R18_FPN_shapes_cpu.yaml"


def _count(monkeypatch, original, calls: list):
    """Replace ``original`` by a recording wrapper in every scratchdet module that holds it."""
    def wrapper(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    for name, module in list(sys.modules.items()):
        if (name.startswith("scratchdet") or name == "train_net") and getattr(module, original.__name__, None) is original:
            monkeypatch.setattr(module, original.__name__, wrapper)


def test_two_phase_run_resolves_each_thing_once_per_phase(tmp_path, monkeypatch):
    registered, norms, checks, loads = [], [], [], []
    _count(monkeypatch, scratchdet.data.datasets.from_config.register_datasets_from_config, registered)
    _count(monkeypatch, scratchdet.config.loading.apply_norm_policy, norms)
    _count(monkeypatch, scratchdet.engine.setup.checks.config_errors, checks)
    _count(monkeypatch, scratchdet.data.dataset_dicts.get_detection_dataset_dicts, loads)
    cfg = load_config_file(DEMO_CONFIG, [
        *TINY_OPTS, "SOLVER.MAX_ITER", "2", "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()", "SCRATCHDET.VIS.NUM_IMAGES",
        "0", "OUTPUT_DIR", str(tmp_path), "SCRATCHDET.AUG.COPY_PASTE.ENABLED", "True",
        "SCRATCHDET.PHASE1.ENABLED", "True", "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "2",
        "SCRATCHDET.PHASE1.INPUT.MIN_SIZE_TRAIN", "(64,)", "SCRATCHDET.HANDOVER.PRECISE_BN_ITERS", "1"])
    cfg.freeze()
    train(cfg, resume=False)
    assert len(registered) == 1
    assert len(norms) == 2  # the config as loaded (phase 2's) and phase 1's
    assert len(checks) == 2
    train_loads = [a for a in loads if list(a[0]) == ["shapes_train"]]
    assert len(train_loads) == 2, loads  # one per phase: the loader and Copy-Paste's pool share it


def test_classes_from_the_data_are_written_in_by_the_set_up_step():
    cfg = load_config_file(DEYO, ["SCRATCHDET.DEYO.NUM_CLASSES", "0"])
    register_run_datasets(cfg)
    resolved = plan_phase(cfg, training=False).cfg
    classes = MetadataCatalog.get(cfg.DATASETS.TRAIN[0]).thing_classes
    assert len(classes) == resolved.SCRATCHDET.DEYO.NUM_CLASSES and resolved.is_frozen()
    # The model only reads it: built from the unresolved config, it says what to do.
    with pytest.raises(ConfigError, match="SCRATCHDET.DEYO.NUM_CLASSES is 0 .*resolve_config"):
        Trainer.build_model(cfg)
    heads = [m for name, m in Trainer.build_model(resolved).named_modules() if name.endswith("class_heads.0")]
    assert heads and heads[0].out_features == len(classes)


def test_a_class_count_that_does_not_fit_the_data_names_the_key():
    cfg = load_config_file(DEMO_CONFIG, ["MODEL.ROI_HEADS.NUM_CLASSES", "7"])
    with pytest.raises(ConfigError, match=r"has 5 classes .* MODEL.ROI_HEADS.NUM_CLASSES=7: set MODEL.ROI_HEADS.NUM_CLASSES 5"):
        resolve_class_counts(cfg)
