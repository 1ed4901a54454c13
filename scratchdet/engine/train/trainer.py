"""scratchdet's Trainer: detectron2's DefaultTrainer with datasets checked before training, the
mapper and extra hooks chosen by config, the evaluator chosen by the dataset's evaluator_type,
atomic checkpoints, CPU threads that fit the free cores, weights loaded through scratchdet's
checkpointer (safe loading, conversions, report, BN statistics re-estimated after MODEL.WEIGHTS),
and multi-process training that also works on CPU (gloo)."""

from __future__ import annotations

import logging
import os
import weakref

import torch
from detectron2.config import CfgNode
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, TrainerBase, create_ddp_model
from detectron2.engine import hooks as d2_hooks
from detectron2.evaluation import verify_results
from detectron2.modeling import GeneralizedRCNN, GeneralizedRCNNWithTTA
from detectron2.utils import comm
from detectron2.utils.events import EventStorage
from detectron2.utils.logger import setup_logger
from torch.nn.parallel import DistributedDataParallel

from ...checkpoint import ScratchCheckpointer
from ...config.errors import ConfigError
from ...data import build_mapper
from ...data.dataset_dicts import drop_unannotated_images
from ...evaluation import build_evaluator
from ...modeling.conv_bn_fusion import fuse_conv_bn
from ...modeling.freeze import freeze_part
from ...modeling.norm_policy import init_for_scratch
from ...solver import build_optimizer, uses_param_groups
from ..hooks.best_checkpoint import BestCheckpointHook
from ..hooks.checkpoint_retention import RetainingPeriodicCheckpointer
from ..hooks.early_stop import EarlyStopHook
from ..hooks.loss_curve import LossCurveHook
from ..hooks.model_ema import ModelEMAHook, build_model_ema
from ..hooks.prediction_png import PredictionPNGHook
from ..hooks.registry import build_hooks_from_config
from ..hooks.time_budget import TimeBudgetHook
from ..hooks.validation_loss import ValidationLossHook
from ..setup.plan import checked_dicts, set_up
from .compile import compile_model
from .cpu_autocast import CPUAutocastTrainer
from .cpu_threads import configure_cpu
from .disk_space import warn_if_checkpoints_do_not_fit
from .precise_bn import reestimate_bn_stats
from .resume_check import schedule_of_config

logger = logging.getLogger(__name__)

__all__ = ["Trainer"]


class Trainer(DefaultTrainer):
    def __init__(self, cfg: CfgNode, train_dicts: list[dict] | None = None):
        """``cfg`` and ``train_dicts`` as the set-up step (:mod:`.plan`) resolved them: the runner
        passes both. Without ``train_dicts`` (a Trainer built in the user's own code) the set-up
        step runs here first."""
        # Mirrors DefaultTrainer.__init__ of detectron2 0.7.2, changing only what its classmethods
        # cannot: DDP without device_ids on CPU (gloo), scratchdet's checkpointer, the planned dicts.
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        if train_dicts is None:
            planned = set_up(cfg, training=True)
            cfg, train_dicts = planned.cfg, planned.train_dicts
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        # On CPU: intra-op threads and loader workers that fit the free cores (SCRATCHDET.CPU).
        cfg = configure_cpu(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg, train_dicts)
        # The EMA copies the unwrapped model; its first update (after step 1) copies the weights
        # as loaded by resume_or_load, or the checkpoint's average arrives with a resume.
        self.ema = build_model_ema(cfg, model)
        # torch.compile of the trained model's backbone (SCRATCHDET.CPU.COMPILE), in place, after the
        # EMA's copy (which stays eager) and before DDP; build_model (--eval-only, export) stays eager.
        compile_model(model, cfg.SCRATCHDET.CPU.COMPILE, cfg.MODEL.DEVICE)
        device_ids = [comm.get_local_rank()] if cfg.MODEL.DEVICE.startswith("cuda") else None
        model = create_ddp_model(model, broadcast_buffers=False, device_ids=device_ids)
        cpu_bf16 = cfg.MODEL.DEVICE == "cpu" and cfg.SCRATCHDET.CPU.AUTOCAST_BF16
        step = AMPTrainer if cfg.SOLVER.AMP.ENABLED else CPUAutocastTrainer if cpu_bf16 else SimpleTrainer
        self._trainer = step(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        extra = {"ema": self.ema} if self.ema is not None else {}
        self.checkpointer = ScratchCheckpointer.from_config(cfg, model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self), **extra)
        if self.ema is not None:  # checkpoints store the average as "model", the trained weights beside it
            self.checkpointer.averaged_model = self.ema.module
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self._stop_requested = False
        self._evaluated_at: tuple[int, object] | None = None  # (steps done, results)
        self.register_hooks(self.build_hooks())

    @classmethod
    def build_model(cls, cfg: CfgNode):
        # ``cfg`` is resolved at set-up (norm policy applied by load_config_file): the model reads it.
        model = super().build_model(cfg)
        # From-scratch initialisation options (SCRATCHDET.INIT.*), before any weights are loaded.
        model = init_for_scratch(model, cfg)
        # Frozen parts are frozen as the model is built (as detectron2's FREEZE_AT): weights then
        # load into them, and their statistics are re-estimated with the others (resume_or_load).
        freeze_part(model, cfg.SCRATCHDET.FREEZE)
        if cfg.SCRATCHDET.CPU.CHANNELS_LAST:
            model = model.to(memory_format=torch.channels_last)
        return model

    def resume_or_load(self, resume: bool = True) -> None:
        """detectron2's resume_or_load; on resume the config's LR schedule applies (not the
        checkpoint's learning rates); after weights arrive by MODEL.WEIGHTS (not a resume), the
        BN statistics are re-estimated on this training's data (SCRATCHDET.HANDOVER.PRECISE_BN_ITERS)."""
        with schedule_of_config(self):
            super().resume_or_load(resume=resume)
        resumed = resume and self.checkpointer.has_checkpoint()
        if comm.is_main_process():  # the main process writes the checkpoints
            warn_if_checkpoints_do_not_fit(self.cfg, self._trainer.model, self._trainer.optimizer, self.start_iter)
        iters = self.cfg.SCRATCHDET.HANDOVER.PRECISE_BN_ITERS
        if not resumed and self.cfg.MODEL.WEIGHTS and iters > 0:
            model = self._trainer.model
            model = model.module if isinstance(model, DistributedDataParallel) else model
            reestimate_bn_stats(model, iter(self._trainer.data_loader), iters)

    @classmethod
    def build_optimizer(cls, cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
        # AdamW, layer-wise LR decay, no weight decay on norms/position terms (SCRATCHDET.SOLVER);
        # detectron2's SGD when none is set.
        if uses_param_groups(cfg):
            return build_optimizer(cfg, model)
        return super().build_optimizer(cfg, model)

    @classmethod
    def build_train_loader(cls, cfg: CfgNode, dataset_dicts: list[dict] | None = None):
        """``dataset_dicts``: DATASETS.TRAIN's checked dicts with images without annotations (the
        set-up step's); the mapper's image pool takes them all, the loader those the config keeps."""
        if dataset_dicts is None:
            dataset_dicts = checked_dicts(cfg, cfg.DATASETS.TRAIN, is_train=True, filter_empty=False)
        mapper = build_mapper(cfg, is_train=True, dataset_dicts=dataset_dicts)
        kept = drop_unannotated_images(dataset_dicts, cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)
        return build_detection_train_loader(cfg, mapper=mapper, dataset=kept)

    @classmethod
    def build_test_loader(cls, cfg: CfgNode, dataset_name: str):
        dicts = checked_dicts(cfg, [dataset_name], is_train=False)
        return build_detection_test_loader(dicts, mapper=build_mapper(cfg, is_train=False),
                                           num_workers=cfg.DATALOADER.NUM_WORKERS)

    @classmethod
    def build_evaluator(cls, cfg: CfgNode, dataset_name: str, output_folder: str | None = None):
        return build_evaluator(cfg, dataset_name, output_folder)

    @classmethod
    def test(cls, cfg: CfgNode, model: torch.nn.Module, evaluators=None):
        # Every evaluation (periodic, final, --eval-only) comes here: with SCRATCHDET.TEST.FUSE_CONV_BN
        # it runs on a copy with BN folded into the convs, so the trained model (or EMA) is not changed.
        if cfg.SCRATCHDET.TEST.FUSE_CONV_BN:
            model = fuse_conv_bn(model)
        return super().test(cfg, model, evaluators)

    @classmethod
    def test_with_TTA(cls, cfg: CfgNode, model: torch.nn.Module) -> dict:
        """detectron2's test-time augmentation (TEST.AUG: each image at every MIN_SIZES, flipped with
        FLIP, detections merged by NMS), as detectron2's tools/train_net.py runs it; results under
        "<task>_TTA" (e.g. "bbox_TTA"), evaluator files in OUTPUT_DIR/inference_TTA."""
        if not isinstance(model, GeneralizedRCNN):
            raise ConfigError(f"TEST.AUG.ENABLED: test-time augmentation is detectron2's for R-CNN models "
                              f"(GeneralizedRCNN); {type(model).__name__} has none. Set TEST.AUG.ENABLED False.")
        logger.info(f"Test-time augmentation: sizes {tuple(cfg.TEST.AUG.MIN_SIZES)}, flip {cfg.TEST.AUG.FLIP}")
        if cfg.SCRATCHDET.TEST.FUSE_CONV_BN:
            model = fuse_conv_bn(model)
        tta = GeneralizedRCNNWithTTA(cfg, model)
        evaluators = [cls.build_evaluator(cfg, name, os.path.join(cfg.OUTPUT_DIR, "inference_TTA"))
                      for name in cfg.DATASETS.TEST]
        res = DefaultTrainer.test(cfg, tta, evaluators)
        return {f"{k}_TTA": v for k, v in res.items()}

    @property
    def eval_model(self) -> torch.nn.Module:
        """The model that evaluation and the predictions PNG use: the EMA when enabled."""
        # Before its first update the average is only a copy of the model as built: not yet the model.
        return self.ema.module if self.ema is not None and self.ema.updates > 0 else self.model

    def _test_and_save_results(self):
        # An early stop ends training right after an evaluation: the final one would repeat it.
        done = getattr(self, "_steps_done", -1)
        if self._evaluated_at is not None and self._evaluated_at[0] == done:
            return self._evaluated_at[1]
        self._last_eval_results = self.test(self.cfg, self.eval_model)
        self._evaluated_at = (done, self._last_eval_results)
        return self._last_eval_results

    def after_step(self) -> None:
        super().after_step()
        # detectron2's writers run every 20 steps and keep only the latest value of each metric: an
        # evaluation between two writes (AP, val_* losses) would be lost. Flush after each one.
        if self._evaluated_at is not None and self._evaluated_at[0] == getattr(self, "_steps_done", -1) \
                and comm.is_main_process():
            for h in self._hooks:
                if isinstance(h, d2_hooks.PeriodicWriter) and (self.iter + 1) % h._period:  # else it wrote
                    for w in h._writers:
                        w.write()

    def run_step(self) -> None:
        super().run_step()
        self._steps_done = self.iter + 1

    def request_stop(self) -> None:
        """End training after the current step (early stopping): the hooks then finish the run as
        at its last iteration (model_final.pth, final evaluation, PNGs)."""
        self._stop_requested = True

    def _train_loop(self, start_iter: int, max_iter: int) -> None:
        # detectron2's TrainerBase.train (0.7.2), with a way out for request_stop() and a last
        # iteration that may move (SCRATCHDET.TIME_BUDGET).
        logger.info(f"Starting training from iteration {start_iter}")
        self.iter = self.start_iter = start_iter
        self.max_iter = max_iter
        with EventStorage(start_iter) as self.storage:
            try:
                self.before_train()
                # A while loop: self.max_iter may move during training (SCRATCHDET.TIME_BUDGET).
                while self.iter < self.max_iter:
                    self.before_step()
                    self.run_step()
                    self.after_step()
                    if self._stop_requested and self.iter + 1 < self.max_iter:
                        self.max_iter = self.iter + 1  # the hooks' "last iteration" from here on
                        if comm.is_main_process():
                            self.checkpointer.save("model_final", iteration=self.iter)
                    self.iter += 1
            except Exception:
                logger.exception("Exception during training:")
                raise
            finally:
                self.after_train()

    def build_hooks(self):
        ret = super().build_hooks()
        # detectron2's EvalHook evaluates self.model; ours evaluates eval_model (the EMA if any).
        ret = [d2_hooks.EvalHook(self.cfg.TEST.EVAL_PERIOD, self._test_and_save_results)
               if isinstance(h, d2_hooks.EvalHook) else h for h in ret]
        if self.cfg.TEST.AUG.ENABLED:  # as detectron2's tools/train_net.py: TTA once, after training
            at = next(i for i, h in enumerate(ret) if isinstance(h, d2_hooks.EvalHook)) + 1
            ret.insert(at, d2_hooks.EvalHook(0, lambda: self.test_with_TTA(self.cfg, self.eval_model)))
        if self.ema is not None:  # after the LR scheduler, before the checkpointer and the evaluation
            at = next(i for i, h in enumerate(ret) if isinstance(h, d2_hooks.LRScheduler)) + 1
            ret.insert(at, ModelEMAHook(self.ema))
        if self.cfg.SCRATCHDET.VAL_LOSS.ENABLED and self.cfg.TEST.EVAL_PERIOD > 0:  # logged before the AP
            at = next(i for i, h in enumerate(ret) if isinstance(h, d2_hooks.EvalHook))
            ret.insert(at, ValidationLossHook(self.cfg))
        keep = self.cfg.SCRATCHDET.CHECKPOINT.MAX_TO_KEEP
        if keep > 0:  # detectron2 builds its PeriodicCheckpointer without max_to_keep
            ret = [RetainingPeriodicCheckpointer(h.checkpointer, h.period, keep)
                   if isinstance(h, d2_hooks.PeriodicCheckpointer) else h for h in ret]
        # Config hooks go before the PeriodicWriter (last on the main process), so what they log is
        # written in the same step; the PNGs are drawn after it has flushed the final metrics.
        writer = ret.pop() if comm.is_main_process() else None
        best = self.cfg.SCRATCHDET.BEST_CHECKPOINT
        if best.METRIC and self.cfg.TEST.EVAL_PERIOD > 0 and comm.is_main_process():
            ret.append(BestCheckpointHook(self.cfg, self.checkpointer))  # after the EvalHook it reads
        if self.cfg.SCRATCHDET.EARLY_STOP.PATIENCE > 0 and self.cfg.TEST.EVAL_PERIOD > 0:
            ret.append(EarlyStopHook(self.cfg))  # after the best checkpoint of the same evaluation
        if self.cfg.SCRATCHDET.TIME_BUDGET.SECONDS > 0:  # after every hook whose work belongs to a step
            ret.append(TimeBudgetHook(self.cfg))
        ret.extend(build_hooks_from_config(self.cfg))
        if writer is not None:
            ret.append(writer)
        return ret + [PredictionPNGHook(self.cfg), LossCurveHook(self.cfg)]

    def train(self):
        """Train; returns the last evaluation's results (None without a test set)."""
        try:
            self._train_loop(self.start_iter, self.max_iter)
            if len(self.cfg.TEST.EXPECTED_RESULTS) and comm.is_main_process():
                verify_results(self.cfg, self._last_eval_results)
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
        return getattr(self, "_last_eval_results", None)
