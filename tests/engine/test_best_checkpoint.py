"""Validation during training keeps the best model, also across --resume."""

import json

import torch

from tests.conftest import DEMO_CONFIG, TINY_OPTS, run_train_net


def test_best_checkpoint_is_kept_and_usable(tmp_path):
    out = str(tmp_path)
    opts = [*TINY_OPTS, "MODEL.MASK_ON", "False", "TEST.EVAL_PERIOD", "3", "SOLVER.CHECKPOINT_PERIOD", "3",
            "SCRATCHDET.DATA.SPLIT", "[['shapes_val', 'bv_tr', 'bv_va', 0.1, 0]]",
            "DATASETS.TEST", "('bv_va',)", "OUTPUT_DIR", out]
    run_train_net(["--config-file", DEMO_CONFIG, *opts, "SOLVER.MAX_ITER", "6"])
    rows = [json.loads(line) for line in open(f"{out}/metrics.json")]
    aps = {r["iteration"]: r["bbox/AP"] for r in rows if "bbox/AP" in r}
    assert len(aps) == 2  # evaluated during training (iteration 3) and at the end
    best = json.load(open(f"{out}/model_best.json"))
    assert best["metric"] == "bbox/AP" and best["value"] == max(aps.values())
    assert torch.load(f"{out}/model_best.pth", map_location="cpu", weights_only=False)["iteration"] == best["iteration"]
    # --resume continues from the last checkpoint, not from the best one
    assert open(f"{out}/last_checkpoint").read() == "model_final.pth"
    run_train_net(["--config-file", DEMO_CONFIG, "--resume", *opts, "SOLVER.MAX_ITER", "9"])
    best2 = json.load(open(f"{out}/model_best.json"))
    rows = [json.loads(line) for line in open(f"{out}/metrics.json")]
    all_aps = [r["bbox/AP"] for r in rows if "bbox/AP" in r]
    assert best2["value"] == max(all_aps) >= best["value"]
    ev = str(tmp_path / "ev")
    run_train_net(["--config-file", DEMO_CONFIG, "--eval-only", *opts, "MODEL.WEIGHTS", f"{out}/model_best.pth",
                   "OUTPUT_DIR", ev])
    assert abs(json.load(open(f"{ev}/eval_results.json"))["bbox"]["AP"] - best2["value"]) < 1e-6
