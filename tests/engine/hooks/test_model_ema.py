"""Model EMA (SCRATCHDET.EMA): the average itself, what evaluation and checkpoints use, and a
resume that restores average, trained weights and update count bit for bit."""

import math
import os

import pytest
import torch
from detectron2.utils.env import seed_all_rng

from scratchdet.checkpoint import ScratchCheckpointer
from scratchdet.config.errors import ConfigError
from scratchdet.engine import Trainer, check_run_config
from scratchdet.engine.hooks.model_ema import ModelEMA


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


def test_average_follows_the_warmed_up_decay_and_bn_statistics():
    net = _net()
    ema = ModelEMA(net, decay=0.9, warmup_iters=3)
    expected = None
    for step in range(5):
        with torch.no_grad():
            net[0].weight.add_(1.0)
        net.train()(torch.randn(2, 3, 8, 8))  # moves the BN statistics and num_batches_tracked
        d = ema.update(net)
        assert d == pytest.approx(0.9 * (1 - math.exp(-step / 3)))
        w = net[0].weight.detach().clone()
        expected = w if expected is None else d * expected + (1 - d) * w  # the first update copies
        assert torch.allclose(ema.module[0].weight, expected, atol=1e-6)
    assert ema.updates == 5
    bn, bn_ema = net[1], ema.module[1]
    assert not torch.allclose(bn_ema.running_mean, bn.running_mean)  # averaged, not copied
    assert int(bn_ema.num_batches_tracked) == int(bn.num_batches_tracked) == 5  # a counter: copied
    assert not bn_ema.training


def test_bad_decay_is_a_config_error(tiny_cfg):
    cfg = tiny_cfg("SCRATCHDET.EMA.ENABLED", "True", "SCRATCHDET.EMA.DECAY", "1.5")
    with pytest.raises(ConfigError, match="SCRATCHDET.EMA.DECAY=1.5"):
        check_run_config(cfg, world_size=1, training=True)


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_evaluation_checkpoints_and_resume_use_the_average(tiny_cfg, tmp_path, monkeypatch):
    opts = ["MODEL.MASK_ON", "False", "SCRATCHDET.EMA.ENABLED", "True", "SCRATCHDET.EMA.DECAY", "0.9",
            "SCRATCHDET.EMA.WARMUP_ITERS", "2", "SOLVER.MAX_ITER", "4", "SOLVER.CHECKPOINT_PERIOD", "2",
            "TEST.EVAL_PERIOD", "2", "SCRATCHDET.DATA.SPLIT", "[['shapes_val', 'ema_tr', 'ema_va', 0.05, 0]]",
            "DATASETS.TEST", "('ema_va',)", "SCRATCHDET.VIS.NUM_IMAGES", "0", "OUTPUT_DIR", str(tmp_path)]
    cfg = tiny_cfg(*opts)
    evaluated = []
    real_test = Trainer.test.__func__

    def record(cls, cfg, model, evaluators=None):
        evaluated.append(model)
        return real_test(cls, cfg, model, evaluators)

    monkeypatch.setattr(Trainer, "test", classmethod(record))
    seed_all_rng(0)
    from scratchdet.data.datasets import register_datasets_from_config
    register_datasets_from_config(cfg)
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    assert evaluated and all(m is trainer.ema.module for m in evaluated)
    final = torch.load(tmp_path / "model_final.pth", weights_only=True)
    assert _equal(final["model"], trainer.ema.module.state_dict())
    assert _equal(final["raw_model"], trainer.model.state_dict())
    assert not _equal(final["model"], final["raw_model"])
    assert final["ema"] == {"updates": 4}
    best = torch.load(tmp_path / "model_best.pth", weights_only=True)
    assert "raw_model" in best and best["iteration"] in (1, 3)

    # MODEL.WEIGHTS (fine-tuning, --eval-only) takes the average
    fresh = Trainer.build_model(cfg)
    ScratchCheckpointer(fresh, for_evaluation=True).load(str(tmp_path / "model_final.pth"), checkpointables=[])
    assert _equal(fresh.state_dict(), final["model"])

    # --resume from the checkpoint of iteration 2: trained weights, average and count bit for bit
    mid = torch.load(tmp_path / "model_0000001.pth", weights_only=True)
    (tmp_path / "last_checkpoint").write_text("model_0000001.pth")
    resumed = Trainer(cfg)
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 2
    assert _equal(resumed.model.state_dict(), mid["raw_model"])
    assert _equal(resumed.ema.module.state_dict(), mid["model"])
    assert resumed.ema.updates == 2
    resumed.train()
    assert resumed.ema.updates == 4
    assert os.path.isfile(tmp_path / "model_final.pth")
