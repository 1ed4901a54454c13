"""scratchdet's Trainer: detectron2's DefaultTrainer with datasets checked before training, the
mapper and extra hooks chosen by config, the evaluator chosen by the dataset's evaluator_type,
atomic checkpoints, CPU threads that fit the free cores, and multi-process training that also works on CPU (gloo)."""

from __future__ import annotations

import logging
import os
import weakref

import torch
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog, build_detection_test_loader, build_detection_train_loader
from detectron2.data.build import filter_images_with_only_crowd_annotations, get_detection_dataset_dicts
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, TrainerBase, create_ddp_model
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ..checkpoint import ScratchCheckpointer, hand_over, load_source_state_dict
from ..config.checks import ConfigError
from ..data import build_mapper
from ..data.datasets import check_annotations_fit, check_dataset_dicts, ensure_dataset_files, register_datasets_from_config
from ..data.datasets.statistics import warn_if_detections_capped
from ..evaluation import build_evaluator
from ..modeling.bn_statistics import average_bn_stats_across_processes, bn_modules, recompute_bn_stats
from ..modeling.freeze import freeze_part
from ..modeling.norm_policy import apply_norm_policy, init_for_scratch
from ..solver import build_optimizer, uses_param_groups
from .cpu_threads import configure_cpu
from .hook_registry import build_hooks_from_config
from .hooks.best_checkpoint import BestCheckpointHook
from .hooks.loss_curve import LossCurveHook
from .hooks.prediction_png import PredictionPNGHook
from .resume_check import schedule_of_config

logger = logging.getLogger(__name__)


def model_num_classes(cfg: CfgNode) -> tuple[str, int] | None:
    """(config key, value) of the number of classes the configured detector predicts."""
    arch = cfg.MODEL.META_ARCHITECTURE
    if arch in ("GeneralizedRCNN", "PanopticFPN"):
        return "MODEL.ROI_HEADS.NUM_CLASSES", cfg.MODEL.ROI_HEADS.NUM_CLASSES
    if arch == "RetinaNet":
        return "MODEL.RETINANET.NUM_CLASSES", cfg.MODEL.RETINANET.NUM_CLASSES
    if arch == "ScratchDetSSD":
        return "MODEL.SSD.NUM_CLASSES", cfg.MODEL.SSD.NUM_CLASSES
    return None


def load_checked_dataset(cfg: CfgNode, names: list[str] | tuple[str, ...], is_train: bool) -> list[dict]:
    """Dataset dicts of ``names``, registered from the config if needed and checked (files exist,
    boxes valid, classes known; see SCRATCHDET.DATA.*)."""
    register_datasets_from_config(cfg)
    for name in names:
        ensure_dataset_files(name)
    # Checked before images without annotations are filtered out, so that every file is checked.
    dicts = get_detection_dataset_dicts(
        names, filter_empty=False,
        min_keypoints=cfg.MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE if is_train and cfg.MODEL.KEYPOINT_ON else 0,
    )
    classes = MetadataCatalog.get(names[0]).get("thing_classes")
    configured = model_num_classes(cfg)
    if classes is not None and configured is not None and configured[1] != len(classes):
        raise ConfigError(
            f"Dataset '{names[0]}' has {len(classes)} classes {classes[:10]} but {configured[0]}="
            f"{configured[1]}: set {configured[0]} {len(classes)}."
        )
    dicts = check_dataset_dicts(
        dicts, ",".join(names), num_classes=len(classes) if classes else None,
        on_bad=cfg.SCRATCHDET.DATA.ON_BAD_ANNOTATION, check_images=cfg.SCRATCHDET.DATA.CHECK_IMAGES,
    )
    # Image-only dicts (unlabelled sets, for phases that need no labels such as MAE) have no
    # "annotations" at all: nothing to fit or filter there, unless a detector is asked to learn from them.
    labelled = any("annotations" in d for d in dicts)
    if labelled or configured is not None:
        check_annotations_fit(dicts, names, mask_on=cfg.MODEL.MASK_ON, is_train=is_train)
    warn_if_detections_capped(cfg, dicts, ",".join(names))
    if is_train and cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS and labelled:
        dicts = filter_images_with_only_crowd_annotations(dicts)
    return dicts


class Trainer(DefaultTrainer):
    def __init__(self, cfg: CfgNode):
        # DefaultTrainer.__init__, with two changes that its classmethods cannot make: DDP without
        # device_ids on CPU (gloo), and the atomic checkpointer.
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        # On CPU: intra-op threads and loader workers that fit the free cores (SCRATCHDET.CPU).
        cfg = configure_cpu(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        device_ids = [comm.get_local_rank()] if cfg.MODEL.DEVICE.startswith("cuda") else None
        model = create_ddp_model(model, broadcast_buffers=False, device_ids=device_ids)
        self._trainer = (AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer)(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = ScratchCheckpointer(
            model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self),
            min_matched_fraction=cfg.SCRATCHDET.CHECKPOINT.MIN_MATCHED_FRACTION,
            allow_pickle=cfg.SCRATCHDET.CHECKPOINT.ALLOW_PICKLE,
        )
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    @classmethod
    def build_model(cls, cfg: CfgNode):
        cfg = apply_norm_policy(cfg)
        model = super().build_model(cfg)
        # From-scratch initialisation options (SCRATCHDET.INIT.*), before any weights are loaded.
        model = init_for_scratch(model, cfg)
        handover = cfg.SCRATCHDET.HANDOVER
        if handover.SOURCE:
            report = os.path.join(cfg.OUTPUT_DIR, "handover.json") if comm.is_main_process() else None
            source = load_source_state_dict(handover.SOURCE, cfg.SCRATCHDET.CHECKPOINT.ALLOW_PICKLE)
            hand_over(model, source, list(handover.KEY_MAP), report)
            if handover.PRECISE_BN_ITERS > 0 and bn_modules(model):
                recompute_bn_stats(model, cls.build_train_loader(cfg), handover.PRECISE_BN_ITERS)
                average_bn_stats_across_processes(model)
        freeze_part(model, handover.FREEZE)
        return model

    @classmethod
    def build_optimizer(cls, cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
        # AdamW, layer-wise LR decay, no weight decay on norms/position terms (SCRATCHDET.SOLVER);
        # detectron2's SGD when none is set.
        if uses_param_groups(cfg):
            return build_optimizer(cfg, model)
        return super().build_optimizer(cfg, model)

    @classmethod
    def build_train_loader(cls, cfg: CfgNode):
        dicts = load_checked_dataset(cfg, cfg.DATASETS.TRAIN, is_train=True)
        mapper = build_mapper(cfg, is_train=True)
        return build_detection_train_loader(cfg, mapper=mapper, dataset=dicts)

    @classmethod
    def build_test_loader(cls, cfg: CfgNode, dataset_name: str):
        dicts = load_checked_dataset(cfg, [dataset_name], is_train=False)
        return build_detection_test_loader(dicts, mapper=build_mapper(cfg, is_train=False),
                                           num_workers=cfg.DATALOADER.NUM_WORKERS)

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str, output_folder: str | None = None):
        return build_evaluator(cfg, dataset_name, output_folder)

    def build_hooks(self):
        ret = super().build_hooks()
        # Config hooks go before the PeriodicWriter (last on the main process), so what they log is
        # written in the same step; the PNGs are drawn after it has flushed the final metrics.
        writer = ret.pop() if comm.is_main_process() else None
        best = self.cfg.SCRATCHDET.BEST_CHECKPOINT
        if best.METRIC and self.cfg.TEST.EVAL_PERIOD > 0 and comm.is_main_process():
            ret.append(BestCheckpointHook(self.cfg, self.checkpointer))  # after the EvalHook it reads
        ret.extend(build_hooks_from_config(self.cfg))
        if writer is not None:
            ret.append(writer)
        return ret + [PredictionPNGHook(self.cfg), LossCurveHook(self.cfg)]

    def resume_or_load(self, resume: bool = True) -> None:
        # On resume, the config's LR schedule applies (not the checkpoint's learning rates).
        with schedule_of_config(self):
            super().resume_or_load(resume=resume)

    def train(self):
        try:
            return super().train()
        except FloatingPointError as e:
            # Name the checkpoint to go back to only when one was written.
            last = self.checkpointer.get_checkpoint_file() if self.checkpointer.has_checkpoint() else ""
            where = (f"The last checkpoint written before it is {last} (--resume with a lower SOLVER.BASE_LR continues from it)." if last
                     else "No checkpoint was written before it diverged.")
            raise FloatingPointError(
                f"{e}\nTraining diverged. From scratch, try: a lower SOLVER.BASE_LR, a longer "
                "SOLVER.WARMUP_ITERS, trained norms everywhere (SCRATCHDET.NORM / MODEL.*.NORM BN or GN), "
                f"or SOLVER.CLIP_GRADIENTS.ENABLED True. {where}"
            ) from e

