"""SCRATCHDET.CPU.AUTOCAST_BF16 and CHANNELS_LAST: training steps run (bfloat16 convolutions,
float32 weights) and the weights are in channels-last order."""

import math

import torch

from scratchdet.engine import Trainer
from scratchdet.engine.train.cpu_autocast import CPUAutocastTrainer


def test_bf16_autocast_and_channels_last_train(tiny_cfg, tmp_path):
    cfg = tiny_cfg("MODEL.MASK_ON", "False", "SOLVER.MAX_ITER", "3", "SCRATCHDET.CPU.AUTOCAST_BF16", "True",
                   "SCRATCHDET.CPU.CHANNELS_LAST", "True", "SCRATCHDET.VIS.NUM_IMAGES", "0", "DATASETS.TEST", "()",
                   "SCRATCHDET.VAL_LOSS.ENABLED", "False", "OUTPUT_DIR", str(tmp_path))
    trainer = Trainer(cfg)
    assert isinstance(trainer._trainer, CPUAutocastTrainer)
    conv = trainer.model.backbone.bottom_up.stem.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and conv.dtype == torch.float32
    trainer.resume_or_load(resume=False)
    trainer.train()
    losses = trainer.storage.history("total_loss").values()
    assert len(losses) == 3 and all(math.isfinite(v) for v, _ in losses)
    assert trainer.model.backbone.bottom_up.stem.conv1.weight.dtype == torch.float32
