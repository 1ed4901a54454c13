"""train_net.py with a LazyConfig .py file: builds and trains 2 iterations, as a user runs it."""

import json
import os

import torch

from tests.conftest import REPO, run_train_net

LAZY_CONFIG = os.path.join(REPO, "projects", "ViTDet-Scratch", "configs", "mask_rcnn_vit_tiny_shapes_cpu.py")


def test_lazy_config_trains_two_iterations(tmp_path):
    out = str(tmp_path)
    run_train_net(["--config-file", LAZY_CONFIG, "train.max_iter=2", f"train.output_dir={out}",
                   "dataloader.train.num_workers=0", "dataloader.evaluator=null"], timeout=300)
    for name in ("config.yaml", "model_final.pth", "metrics.json", "last_checkpoint"):
        assert os.path.isfile(os.path.join(out, name)), name
    with open(os.path.join(out, "metrics.json")) as f:
        losses = [json.loads(line)["total_loss"] for line in f]
    assert len(losses) >= 1 and all(torch.isfinite(torch.tensor(losses)))
    state = torch.load(os.path.join(out, "model_final.pth"), map_location="cpu", weights_only=False)["model"]
    assert state["backbone.net.pos_embed"].shape == (1, 256, 96)  # 128 px / patch 8, no class token
