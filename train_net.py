#!/usr/bin/env python
"""Train or evaluate a scratchdet / detectron2 model.

    python train_net.py --config-file configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml
    python train_net.py --config-file X.yaml --eval-only MODEL.WEIGHTS output/x/model_final.pth
    python train_net.py --config-file X.yaml --resume            # continue from OUTPUT_DIR/last_checkpoint
    python train_net.py --config-file X.yaml --num-gpus 2        # 2 processes (NCCL on GPU, gloo on CPU)
    python train_net.py --config-file X.py train.max_iter=100    # a LazyConfig (key=value overrides)

This file only parses arguments and calls the engine (:func:`scratchdet.engine.train` /
:func:`scratchdet.engine.evaluate`), which runs single-phase and two-phase jobs alike.
"""

from __future__ import annotations

import logging

from detectron2.engine import default_argument_parser, default_setup
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

import scratchdet  # noqa: F401  (registers everything)
from scratchdet import engine
from scratchdet.config import load_config_file
from scratchdet.engine.run import lazy_train
from scratchdet.engine.run.output_dir import prepare_output_dir
from scratchdet.engine.train.resume_check import config_record_kept
from scratchdet.engine.user_errors import launch_reporting_user_errors, run_reporting_user_errors


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
    return cfg


def main(args):
    if args.config_file.endswith(".py"):  # a LazyConfig: detectron2's instantiate path
        return lazy_train.main(args)
    cfg = setup(args)
    if args.eval_only:
        return engine.evaluate(cfg, resume=args.resume)
    return engine.train(cfg, resume=args.resume)


def run(args) -> None:
    # A message the user can act on (exit code 2), without a stack trace from deep inside.
    run_reporting_user_errors(main, args)


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch_reporting_user_errors(run, args)
