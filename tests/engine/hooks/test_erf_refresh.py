"""ERFRefresh: registered, refreshes the ERF on its period, and runs with the phase-1 CPU config."""

import os

import pytest
import torch
from detectron2.data import build_detection_train_loader
from detectron2.engine import SimpleTrainer
from detectron2.modeling import build_model

from scratchdet.config import ConfigError, load_config_file
from scratchdet.data import build_mapper
from scratchdet.engine import HOOK_REGISTRY, build_hooks_from_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CONFIG = os.path.join(REPO, "projects", "JigsawPretrain", "configs", "jigsaw_R18_shapes_cpu.yaml")


def _cfg(*opts):
    return load_config_file(CONFIG, [
        "SCRATCHDET.JIGSAW.CANVAS_SIZE", "64", "SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0",
        "SCRATCHDET.JIGSAW.ERF_PERIOD", "2", "SCRATCHDET.JIGSAW.ERF_NUM_IMAGES", "1",
        "SCRATCHDET.JIGSAW.NUM_CLASSES", "5", *opts])  # the shapes' classes (the set-up step fills a 0)


def test_hook_refreshes_the_erf_every_period_during_training():
    assert "ERFRefresh" in HOOK_REGISTRY
    cfg = _cfg()
    torch.manual_seed(0)
    model = build_model(cfg)
    loader = build_detection_train_loader(cfg, mapper=build_mapper(cfg, is_train=True))
    trainer = SimpleTrainer(model, loader, torch.optim.SGD(model.parameters(), lr=0.01))
    trainer.register_hooks(build_hooks_from_config(cfg))
    calls = []
    refresh = model.refresh_erf
    model.refresh_erf = lambda *a: calls.append(trainer.iter) or refresh(*a)
    trainer.train(0, 5)
    # step 0 measures it in the model (no ERF yet); the hook after steps 2 and 4 (not the last, 5)
    assert calls == [0, 1, 3]
    assert trainer.storage.history("erf_radius").values()[-1][0] == model.erf_radius


def test_hook_refuses_a_model_without_erf_and_a_bad_period():
    cfg = _cfg()
    with pytest.raises(ConfigError, match="ERF_PERIOD"):
        build_hooks_from_config(_cfg("SCRATCHDET.JIGSAW.ERF_PERIOD", "0"))
    hook = build_hooks_from_config(cfg)[0]
    hook.trainer = type("T", (), {"model": torch.nn.Linear(1, 1)})()
    with pytest.raises(ConfigError, match="JigsawPretrainer"):
        hook.before_train()
