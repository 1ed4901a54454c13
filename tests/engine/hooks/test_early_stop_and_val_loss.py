"""Early stopping on a plateau of the validation metric, and the validation loss logged beside
AP at each evaluation."""

import json

import pytest

from scratchdet.config.errors import ConfigError
from scratchdet.engine import check_run_config
from tests.conftest import DEMO_CONFIG, TINY_OPTS, run_train_net

SPLIT = ["SCRATCHDET.DATA.SPLIT", "[['shapes_val', 'es_tr', 'es_va', 0.05, 0]]", "DATASETS.TEST", "('es_va',)",
         "MODEL.MASK_ON", "False", "SCRATCHDET.VIS.NUM_IMAGES", "0"]


def test_a_plateau_stops_training_cleanly_with_final_and_best_models(tmp_path):
    # No change of AP (0-100) can beat MIN_DELTA 101: every evaluation after the first is "no improvement".
    out = str(tmp_path)
    run_train_net(["--config-file", DEMO_CONFIG, *TINY_OPTS, *SPLIT, "SOLVER.BASE_LR", "1e-12", "SOLVER.MAX_ITER", "40",
                   "TEST.EVAL_PERIOD", "2", "SOLVER.CHECKPOINT_PERIOD", "100", "SCRATCHDET.EARLY_STOP.PATIENCE", "2",
                   "SCRATCHDET.EARLY_STOP.MIN_DELTA", "101.0", "OUTPUT_DIR", out])
    rows = [json.loads(line) for line in open(f"{out}/metrics.json")]
    evals = [r["iteration"] for r in rows if "bbox/AP" in r]
    # the first sets the best, two more without improvement: stop (the final results row repeats the last)
    assert evals[:3] == [1, 3, 5] and evals[3:] in ([], [6])
    assert max(r["iteration"] for r in rows if "total_loss" in r) == 5
    log = open(f"{out}/log.txt").read()
    assert "Early stopping at iteration 6: bbox/AP has not improved by more than 101.0" in log
    import torch

    final = torch.load(f"{out}/model_final.pth", weights_only=True)
    assert final["iteration"] == 5
    # the best checkpoint is the best evaluation (it has no MIN_DELTA: AP may still move a little)
    best = json.load(open(f"{out}/model_best.json"))
    aps = {r["iteration"]: r["bbox/AP"] for r in rows if "bbox/AP" in r and r["iteration"] <= 5}
    assert best["iteration"] in aps and best["value"] == max(aps.values())
    # the validation loss beside AP at each evaluation
    val = [r for r in rows if "val_total_loss" in r]
    assert [r["iteration"] for r in val] == [1, 3, 5]
    assert all(r["val_total_loss"] > 0 and "val_loss_cls" in r for r in val)


def test_early_stop_without_validation_is_a_config_error(tiny_cfg):
    cfg = tiny_cfg("SCRATCHDET.EARLY_STOP.PATIENCE", "3", "TEST.EVAL_PERIOD", "0")
    with pytest.raises(ConfigError, match="SCRATCHDET.EARLY_STOP.PATIENCE=3 needs validation"):
        check_run_config(cfg, world_size=1, training=True)
