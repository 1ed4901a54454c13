"""A short training from scratch on the embedded data really learns: AP above a floor."""

import json

from tests.conftest import DEMO_CONFIG, run_train_net

# Measured here: this 200-iteration run reached box AP50 12.3 (AP 4.2); 20 iterations give 0.03.
# The floor leaves room for run-to-run noise (thread timing, loader workers) and stays 100x above
# an untrained model.
AP50_FLOOR = 5.0


def test_faster_rcnn_from_scratch_learns_in_200_iterations(tmp_path):
    """Faster R-CNN R18-FPN (the demo model without its mask head), random init, 200 iterations of
    8 images at 128 px: box AP50 on shapes_val above the floor."""
    run_train_net(["--config-file", DEMO_CONFIG, "MODEL.MASK_ON", "False", "SOLVER.MAX_ITER", "200",
                   "SOLVER.STEPS", "(150,)", "SOLVER.WARMUP_ITERS", "50",
                   # the demo's LR and sizes when the floor was measured (the demo has changed since)
                   "SOLVER.BASE_LR", "0.02", "INPUT.MIN_SIZE_TRAIN", "(112, 128, 144, 160)", "SCRATCHDET.VIS.NUM_IMAGES", "0",
                   "SOLVER.CHECKPOINT_PERIOD", "1000", "SEED", "0", "OUTPUT_DIR", str(tmp_path)])
    res = json.load(open(tmp_path / "final_results.json"))["bbox"]
    assert res["AP50"] > AP50_FLOOR, res
