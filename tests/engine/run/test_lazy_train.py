"""train_net.py with a LazyConfig .py file: builds and trains 2 iterations, as a user runs it."""

import json
import os

import pytest
import torch

from tests.conftest import REPO, run_train_net

LAZY_CONFIG = os.path.join(REPO, "projects", "ViTDet-Scratch", "configs", "mask_rcnn_vit_tiny_shapes_cpu.py")


def test_lazy_config_trains_two_iterations(tmp_path):
    out = str(tmp_path)
    run_train_net(["--config-file", LAZY_CONFIG, "train.max_iter=2", f"train.output_dir={out}",
                   "dataloader.train.num_workers=0", "dataloader.evaluator=null",
                   "train.checkpointer.period=1", "train.checkpointer.max_to_keep=1"], timeout=300)
    for name in ("config.yaml", "model_final.pth", "metrics.json", "last_checkpoint"):
        assert os.path.isfile(os.path.join(out, name)), name
    with open(os.path.join(out, "metrics.json")) as f:
        losses = [json.loads(line)["total_loss"] for line in f]
    assert len(losses) >= 1 and all(torch.isfinite(torch.tensor(losses)))
    state = torch.load(os.path.join(out, "model_final.pth"), map_location="cpu", weights_only=False)["model"]
    # train.checkpointer.max_to_keep: of the periodic files 0 and 1, only the newest stays
    assert sorted(f for f in os.listdir(out) if f.endswith(".pth")) == ["model_0000001.pth", "model_final.pth"]
    assert state["backbone.net.pos_embed"].shape == (1, 256, 96)  # 128 px / patch 8, no class token


def test_negative_max_to_keep_is_a_config_error():
    from omegaconf import OmegaConf

    from scratchdet.config.errors import ConfigError
    from scratchdet.engine.run.lazy_train import _periodic_checkpointer

    with pytest.raises(ConfigError, match=r"train\.checkpointer\.max_to_keep=-1"):
        _periodic_checkpointer(None, OmegaConf.create({"period": 10, "max_to_keep": -1}))
