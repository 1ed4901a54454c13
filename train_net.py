#!/usr/bin/env python
"""Train or evaluate a scratchdet / detectron2 model.

    python train_net.py --config-file configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml
    python train_net.py --config-file X.yaml --eval-only MODEL.WEIGHTS output/x/model_final.pth
    python train_net.py --config-file X.yaml --resume            # continue from OUTPUT_DIR/last_checkpoint
    python train_net.py --config-file X.yaml --num-gpus 2        # 2 processes (NCCL on GPU, gloo on CPU)
    python train_net.py --config-file X.py train.max_iter=100    # a LazyConfig (key=value overrides)
"""

from __future__ import annotations

import sys

from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

import scratchdet  # noqa: F401  (registers everything)
from scratchdet import engine
from scratchdet.checkpoint import CheckpointError
from scratchdet.config import ConfigError, load_config_file
from scratchdet.data.datasets import DatasetError
from scratchdet.engine import lazy_train

USER_ERRORS = (ConfigError, DatasetError, CheckpointError)


def setup(args):
    cfg = load_config_file(args.config_file, args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    # scratchdet's own messages (hand-over tables, dataset checks) go to the console and log.txt too.
    setup_logger(cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="scratchdet")
    return cfg


def main(args):
    if args.config_file.endswith(".py"):  # a LazyConfig: detectron2's instantiate path
        return lazy_train.main(args)
    cfg = setup(args)
    if args.eval_only:
        return engine.evaluate(cfg, resume=args.resume)
    return engine.train(cfg, resume=args.resume)


def run(args) -> None:
    try:
        main(args)
    except USER_ERRORS as e:
        # A message the user can act on, without a stack trace from deep inside.
        print(f"\nscratchdet: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(run, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))
