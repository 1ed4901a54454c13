"""A user's own COCO json (ids 1, 7, 42) through train_net.py exactly as datasets/README.md
documents it: registered and split from the config, validated during training with the best
checkpoint kept, then --eval-only on a separately registered test set. Every results file
carries the json's own category ids, and the evaluator matched predictions to ground truth."""

import json

from tests.conftest import DEMO_CONFIG, TINY_OPTS, run_train_net, write_user_coco

IDS = [1, 7, 42]


def _ids_in(results_file):
    return {p["category_id"] for p in json.load(open(results_file))}


def test_split_validation_and_eval_only_use_the_jsons_ids(tmp_path):
    train_json, train_root = write_user_coco(tmp_path, "mine", IDS, n_images=10)
    test_json, test_root = write_user_coco(tmp_path, "mine_test", IDS, n_images=4, seed=1)
    out = tmp_path / "out"
    common = [*TINY_OPTS, "MODEL.ROI_HEADS.NUM_CLASSES", "3", "MODEL.MASK_ON", "False",
              "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0", "SCRATCHDET.VIS.NUM_IMAGES", "0",
              "SCRATCHDET.DATA.COCO", f"[['mine', '{train_json}', '{train_root}'], "
                                      f"['mine_test', '{test_json}', '{test_root}']]"]
    run_train_net(["--config-file", DEMO_CONFIG, *common,
                   "SCRATCHDET.DATA.SPLIT", "[['mine', 'mine_tr', 'mine_val', 0.3, 0]]",
                   "DATASETS.TRAIN", "('mine_tr',)", "DATASETS.TEST", "('mine_val',)",
                   "SOLVER.MAX_ITER", "4", "TEST.EVAL_PERIOD", "2", "OUTPUT_DIR", str(out)])
    val_ids = _ids_in(out / "inference" / "coco_instances_results.json")
    assert val_ids and val_ids <= set(IDS), val_ids  # dataset ids, not contiguous 0..2
    best = json.load(open(out / "model_best.json"))
    assert best  # the best checkpoint was chosen from real evaluations
    ev = tmp_path / "ev"
    run_train_net(["--config-file", DEMO_CONFIG, "--eval-only", *common, "DATASETS.TEST", "('mine_test',)",
                   "MODEL.WEIGHTS", str(out / "model_final.pth"), "OUTPUT_DIR", str(ev)])
    assert _ids_in(ev / "inference" / "coco_instances_results.json") <= set(IDS)
    res = json.load(open(ev / "eval_results.json"))
    assert "bbox" in res and res["bbox"]["AP"] == res["bbox"]["AP"]  # evaluated, not NaN
