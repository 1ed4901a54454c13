"""Self-training: teacher -> pseudo-labels (COCO json + PNG) -> student, in one command, with
--resume, a warning when the threshold keeps nothing, and teachers that do not fit refused."""

import json
import os

import pytest
import torch
from detectron2.modeling import build_model

from scratchdet.checkpoint import CheckpointError
from scratchdet.config import ConfigError, load_config_file
from scratchdet.engine.run.self_training import load_teacher
from scratchdet.engine.setup.checks import check_run_config
from tests.conftest import REPO, run_train_net

CONFIG = f"{REPO}/projects/SelfTraining/configs/self_training_faster_rcnn_R18_FPN_shapes10_cpu.yaml"
TINY = [
    "INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MAX_SIZE_TRAIN", "128", "INPUT.MIN_SIZE_TEST", "96",
    "INPUT.MAX_SIZE_TEST", "128", "SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0",
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", "64", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32", "SOLVER.WARMUP_ITERS", "1",
    "SCRATCHDET.VIS.NUM_IMAGES", "0", "SCRATCHDET.SELF_TRAINING.VIS_NUM_IMAGES", "2", "DATASETS.TEST", "()",
    # 3% given unlabelled (10 images) keeps the teacher's inference short.
    "SCRATCHDET.DATA.SPLIT", "[['shapes_train', 'st_l', 'st_u', 0.03, 0]]", "DATASETS.TRAIN", "('st_l',)",
    "SCRATCHDET.SELF_TRAINING.UNLABELLED", "['st_u']", "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "2", "SOLVER.MAX_ITER", "2",
]


def test_teacher_pseudo_labels_student_and_resume(tmp_path):
    out = str(tmp_path / "run")
    # An untrained teacher scores low: keep every detection so that the pseudo-labels are not empty.
    opts = [*TINY, "SCRATCHDET.SELF_TRAINING.SCORE_THRESH", "0.0", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
            "OUTPUT_DIR", out]
    run_train_net(["--config-file", CONFIG, *opts])
    coco = json.load(open(f"{out}/pseudo_labels_round1.json"))
    assert len(coco["images"]) == 10  # 3% of 320 images
    assert coco["annotations"] and {a["category_id"] for a in coco["annotations"]} <= {1, 2, 3, 4, 5}
    from scratchdet.data.datasets import SHAPES_CLASSES

    assert [c["name"] for c in coco["categories"]] == list(SHAPES_CLASSES)
    assert all(os.path.isfile(a) for a in (f"{out}/pseudo_labels_round1.png", f"{out}/phase2/model_final.pth"))
    student_cfg = open(f"{out}/phase2/config.yaml").read()
    assert "pseudo_labels_round1" in student_cfg and "st_u" in student_cfg
    phases = {json.loads(line).get("phase") for line in open(f"{out}/metrics.json")}
    assert phases == {"pretrain", "finetune"}
    # --resume after the end: nothing is trained or labelled again.
    stamps = {p: os.path.getmtime(f"{out}/{p}") for p in ("pseudo_labels_round1.json", "phase2/model_final.pth")}
    run_train_net(["--config-file", CONFIG, "--resume", *opts])
    assert stamps == {p: os.path.getmtime(f"{out}/{p}") for p in stamps}


def test_threshold_that_keeps_nothing_warns_with_the_count(tmp_path):
    out = str(tmp_path / "run")
    proc = run_train_net(["--config-file", CONFIG, *TINY, "SCRATCHDET.SELF_TRAINING.SCORE_THRESH", "1.0",
                          "SCRATCHDET.RUN_PHASES", "all", "OUTPUT_DIR", out])
    log = proc.stdout + proc.stderr
    assert "SCRATCHDET.SELF_TRAINING.SCORE_THRESH=1.0" in log and "kept none of the teacher's" in log
    assert os.path.isfile(f"{out}/phase2/model_final.pth")  # the student still trained, on the labels alone


def test_teacher_of_another_class_count_is_refused(tmp_path):
    cfg = load_config_file(CONFIG, TINY)
    other = build_model(load_config_file(CONFIG, [*TINY, "MODEL.ROI_HEADS.NUM_CLASSES", "3"]))
    path = tmp_path / "teacher.pth"
    torch.save({"model": other.state_dict()}, path)
    with pytest.raises(CheckpointError, match=r"teacher.pth does not fit .*another number of classes") as info:
        load_teacher(build_model(cfg), str(path))
    # The tensors that differ are named with both shapes, from the one read of the file.
    assert "cls_score.weight shape (4," in str(info.value) and "0 missing" in str(info.value)
    with pytest.raises(CheckpointError, match="Teacher checkpoint not found"):
        load_teacher(build_model(cfg), str(tmp_path / "nope.pth"))


@pytest.mark.parametrize("opts,msg", [
    (["SCRATCHDET.SELF_TRAINING.UNLABELLED", "[]"], "SELF_TRAINING.UNLABELLED is empty"),
    (["SCRATCHDET.PHASE1.ENABLED", "False"], "needs SCRATCHDET.PHASE1.ENABLED True"),
    (["SCRATCHDET.SELF_TRAINING.STUDENT_INIT", "imagenet"], "STUDENT_INIT='imagenet'"),
    (["SCRATCHDET.SELF_TRAINING.ROUNDS", "0"], "ROUNDS=0"),
])
def test_config_errors_name_the_key(opts, msg):
    with pytest.raises(ConfigError, match=msg):
        check_run_config(load_config_file(CONFIG, [*TINY, *opts]))
