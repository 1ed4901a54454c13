"""Self-training with pseudo-labels (Zoph et al. 2020, "Rethinking Pre-training and
Self-training"), as rounds of the phase runner: a teacher labels the unlabelled datasets
(SCRATCHDET.SELF_TRAINING.UNLABELLED), its confident predictions are written as a COCO json
(OUTPUT_DIR/pseudo_labels_round<r>.json, with a PNG of a few) and registered as a dataset, and a
student trains on DATASETS.TRAIN + those pseudo-labels, from scratch or from the teacher.
``--resume`` continues in the right step: a finished student or pseudo-label file is reused."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pycocotools.mask as mask_util
import torch
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from detectron2.utils import comm

from ...checkpoint import CheckpointError, CheckpointMismatchError, ScratchCheckpointer
from ...config.errors import ConfigError
from ...data.datasets import register_coco_json
from ...evaluation.prediction_grid import draw_dataset_grid
from ...io.atomic import atomic_write_json

logger = logging.getLogger(__name__)


def _thresholds(cfg: CfgNode, num_classes: int) -> torch.Tensor:
    st = cfg.SCRATCHDET.SELF_TRAINING
    per_class = list(st.SCORE_THRESH_PER_CLASS)
    if per_class and len(per_class) != num_classes:
        raise ConfigError(f"SCRATCHDET.SELF_TRAINING.SCORE_THRESH_PER_CLASS has {len(per_class)} values for "
                          f"{num_classes} classes: give one per class, or [] to use SCORE_THRESH.")
    return torch.tensor(per_class or [st.SCORE_THRESH] * num_classes, dtype=torch.float32)


def load_teacher(model: torch.nn.Module, path: str) -> None:
    """Load a teacher checkpoint that must fit ``model`` exactly (same architecture and classes),
    through the checkpointer of every other load (safe reading, the EMA's average, the report)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"Teacher checkpoint not found: {path}. Set MODEL.WEIGHTS to a trained detector "
                              "of this config (e.g. model_best.pth), or let phase 1 train the teacher.")
    # As an evaluation (no key map, no handover.json), and all of the model must come from the file.
    checkpointer = ScratchCheckpointer(model, for_evaluation=True, min_matched_fraction=1.0)
    try:
        checkpointer.load(path, checkpointables=[])
    except CheckpointMismatchError as e:
        # A detector of another shape: say which tensors differ, from the load's own report (any
        # other refusal, unsafe or unreadable, stands as it is).
        wrong = [f"{k} {why}" for k, why in e.report["reinitialized"] if why != "not in source"]
        missing = [k for k, why in e.report["reinitialized"] if why == "not in source"]
        hint = " (another number of classes?)" if any("cls_score" in w or "cls_logits" in w for w in wrong) else ""
        raise CheckpointError(
            f"Teacher checkpoint {path} does not fit this config's model{hint}: "
            f"{len(wrong)} tensor(s) of another shape, e.g. {wrong[:2]}; {len(missing)} missing, e.g. {missing[:2]}. "
            "Use a teacher trained with this config's architecture and classes."
        ) from e


@torch.no_grad()
def predict_pseudo_labels(cfg: CfgNode, model: torch.nn.Module, dataset_names: list[str],
                          class_names: list[str]) -> tuple[dict, dict]:
    """COCO json (categories 1..K in ``class_names`` order) of the model's predictions on
    ``dataset_names`` that pass the thresholds, and counts {"images", "predictions", "kept"}."""
    from ..train.trainer import Trainer  # the test loader of the trainer (checked datasets, test mapper)

    thresh = _thresholds(cfg, len(class_names))
    images, anns = [], []
    counts = {"images": 0, "predictions": 0, "kept": 0}
    was_training = model.training
    model.eval()
    try:
        for name in dataset_names:
            for inputs in Trainer.build_test_loader(cfg, name):
                for inp, out in zip(inputs, model(inputs), strict=True):
                    inst = out["instances"].to("cpu")
                    counts["images"] += 1
                    counts["predictions"] += len(inst)
                    keep = inst.scores >= thresh[inst.pred_classes]
                    inst = inst[keep]
                    image_id = len(images) + 1
                    images.append({"id": image_id, "file_name": os.path.abspath(inp["file_name"]),
                                   "height": inp["height"], "width": inp["width"]})
                    boxes = BoxMode.convert(inst.pred_boxes.tensor.numpy(), BoxMode.XYXY_ABS, BoxMode.XYWH_ABS)
                    masks = inst.pred_masks.numpy().astype(np.uint8) if inst.has("pred_masks") else None
                    for j in range(len(inst)):
                        a = {"id": len(anns) + 1, "image_id": image_id, "category_id": int(inst.pred_classes[j]) + 1,
                             "bbox": [float(v) for v in boxes[j]], "area": float(boxes[j][2] * boxes[j][3]),
                             "iscrowd": 0, "score": float(inst.scores[j])}
                        if masks is not None:
                            rle = mask_util.encode(np.asfortranarray(masks[j]))
                            a["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
                        anns.append(a)
                    counts["kept"] += len(inst)
    finally:
        model.train(was_training)
    categories = [{"id": i + 1, "name": c} for i, c in enumerate(class_names)]
    return {"images": images, "annotations": anns, "categories": categories}, counts


def pseudo_label_round(teacher_cfg: CfgNode, teacher_weights: str, out_dir: str, round_: int) -> str:
    """Label SELF_TRAINING.UNLABELLED with the teacher; register and return the pseudo-label
    dataset's name. An existing file of this round (a resumed run) is reused, not recomputed."""
    from ..train.trainer import Trainer

    st = teacher_cfg.SCRATCHDET.SELF_TRAINING
    json_file = os.path.join(out_dir, f"pseudo_labels_round{round_}.json")
    class_names = list(MetadataCatalog.get(teacher_cfg.DATASETS.TRAIN[0]).get("thing_classes") or [])
    if not class_names:
        raise ConfigError(f"DATASETS.TRAIN[0]={teacher_cfg.DATASETS.TRAIN[0]!r} has no class names "
                          "(thing_classes): self-training needs a labelled dataset first.")
    if not os.path.isfile(json_file):
        model = Trainer.build_model(teacher_cfg)
        load_teacher(model, teacher_weights)
        coco, counts = predict_pseudo_labels(teacher_cfg, model, list(st.UNLABELLED), class_names)
        if comm.is_main_process():
            atomic_write_json(coco, json_file)
        comm.synchronize()
        logger.info(f"Round {round_}: the teacher ({teacher_weights}) kept {counts['kept']} of {counts['predictions']} "
                    f"predictions on {counts['images']} unlabelled images as pseudo-labels: {json_file}")
        if counts["kept"] == 0:
            logger.warning(
                f"SCRATCHDET.SELF_TRAINING.SCORE_THRESH={st.SCORE_THRESH} (per class: {list(st.SCORE_THRESH_PER_CLASS)}) "
                f"kept none of the teacher's {counts['predictions']} predictions on {counts['images']} images of "
                f"{list(st.UNLABELLED)}: the student learns from DATASETS.TRAIN alone. Lower the threshold, or "
                "train the teacher longer."
            )
    name = f"pseudo_labels_round{round_}__{abs(hash(os.path.abspath(json_file)))}"
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    register_coco_json(name, json_file, "")
    if comm.is_main_process() and st.VIS_NUM_IMAGES > 0:
        with open(json_file) as f:
            has_images = bool(json.load(f)["images"])
        if has_images:
            draw_dataset_grid(name, os.path.join(out_dir, f"pseudo_labels_round{round_}.png"), st.VIS_NUM_IMAGES)
    return name


def student_config(cfg: CfgNode, pseudo_dataset: str) -> CfgNode:
    """The student's config: the phase-2 config, trained on DATASETS.TRAIN + the pseudo-labels."""
    s = cfg.clone()
    s.defrost()
    s.DATASETS.TRAIN = tuple(cfg.DATASETS.TRAIN) + (pseudo_dataset,)
    s.freeze()
    return s
