#!/usr/bin/env python
"""Draw a checkpoint's predictions (left) next to the ground truth (right) on a few images.

    .venv/bin/python tools/visualize_predictions.py --config-file configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml \
        --weights output/demo/model_final.pth --output output/demo/predictions_val.png [--dataset shapes_val] [opts]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import scratchdet  # noqa: F401
from scratchdet.checkpoint import ScratchCheckpointer
from scratchdet.config import load_config_file
from scratchdet.engine import Trainer, resolve_config
from scratchdet.evaluation import draw_prediction_grid


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config-file", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--output", required=True, help="PNG to write")
    ap.add_argument("--dataset", default="", help="default: the config's first DATASETS.TEST")
    ap.add_argument("--num-images", type=int, default=6)
    ap.add_argument("--score-thresh", type=float, default=0.5)
    ap.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = ap.parse_args(argv)
    cfg = resolve_config(load_config_file(args.config_file, args.opts))
    model = Trainer.build_model(cfg)
    # The project's safe loading (weights_only) and its checks (a checkpoint of another model).
    ScratchCheckpointer.from_config(cfg, model, save_dir="", for_evaluation=True).load(args.weights, checkpointables=[])
    dataset = args.dataset or cfg.DATASETS.TEST[0]
    out = draw_prediction_grid(cfg, model, dataset, args.output, args.num_images, args.score_thresh)
    print(f"wrote {out}")


if __name__ == "__main__":
    from scratchdet.engine.user_errors import run_reporting_user_errors

    run_reporting_user_errors(main, None)  # a user error: one line, exit code 2
