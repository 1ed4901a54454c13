#!/usr/bin/env python
"""Train or evaluate a scratchdet / detectron2 model.

    python train_net.py --config-file configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml
    python train_net.py --config-file X.yaml --eval-only MODEL.WEIGHTS output/x/model_final.pth
    python train_net.py --config-file X.yaml --resume            # continue from OUTPUT_DIR/last_checkpoint
    python train_net.py --config-file X.yaml --num-gpus 2        # 2 processes (NCCL on GPU, gloo on CPU)
    python train_net.py --config-file X.py train.max_iter=100    # a LazyConfig (key=value overrides)
"""

from __future__ import annotations

import logging

from detectron2.engine import default_argument_parser, default_setup
from detectron2.evaluation import verify_results
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

import scratchdet  # noqa: F401  (registers everything)
from scratchdet.checkpoint import ScratchCheckpointer
from scratchdet.config import ConfigError, check_config, load_config_file
from scratchdet.data.datasets import register_datasets_from_config
from scratchdet.engine import Trainer, lazy_train
from scratchdet.engine.output_dir import prepare_output_dir
from scratchdet.engine.phases import config_for_eval, run_phases
from scratchdet.engine.resume_check import config_record_kept
from scratchdet.engine.user_errors import launch_reporting_user_errors, run_reporting_user_errors
from scratchdet.evaluation.results_file import save_results


def setup(args):
    cfg = load_config_file(args.config_file, args.opts)
    cfg.freeze()
    removed = prepare_output_dir(cfg.OUTPUT_DIR, main_process=comm.is_main_process())
    # scratchdet's own messages (hand-over tables, dataset checks) go to the console and log.txt too.
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="scratchdet")
    if removed:
        logging.getLogger("scratchdet").info(f"Removed what interrupted saves left: {removed}")
    # --resume: a config the checkpoints cannot follow is refused before the config is written, and
    # OUTPUT_DIR/config.yaml stays the record of the config the run started with.
    with config_record_kept(cfg, resume=args.resume and not args.eval_only):
        default_setup(cfg, args)
    register_datasets_from_config(cfg)
    check_config(cfg, world_size=comm.get_world_size(), training=not args.eval_only)
    return cfg


def main(args):
    if args.config_file.endswith(".py"):  # a LazyConfig: detectron2's instantiate path
        return lazy_train.main(args)
    cfg = setup(args)
    if args.eval_only:
        cfg = config_for_eval(cfg)
        if not cfg.MODEL.WEIGHTS and not args.resume:
            raise ConfigError("--eval-only needs a checkpoint: add MODEL.WEIGHTS path/to/model_final.pth.")
        model = Trainer.build_model(cfg)
        ScratchCheckpointer(
            model, save_dir=cfg.OUTPUT_DIR, min_matched_fraction=cfg.SCRATCHDET.CHECKPOINT.MIN_MATCHED_FRACTION,
            allow_pickle=cfg.SCRATCHDET.CHECKPOINT.ALLOW_PICKLE,
        ).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        res = Trainer.test(cfg, model)
        save_results(cfg.OUTPUT_DIR, res, "eval_results.json")
        if comm.is_main_process():
            verify_results(cfg, res)
        return res
    if cfg.SCRATCHDET.PHASE1.ENABLED:
        # Pre-training then fine-tuning (each phase saves its own results and checkpoints).
        res = run_phases(cfg, resume=args.resume)
    else:
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        trainer.train()
        res = getattr(trainer, "_last_eval_results", None)
    save_results(cfg.OUTPUT_DIR, res, "final_results.json")
    return res


def run(args) -> None:
    # A message the user can act on (exit code 2), without a stack trace from deep inside.
    run_reporting_user_errors(main, args)


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch_reporting_user_errors(run, args)
