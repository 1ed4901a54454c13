#!/usr/bin/env python
"""Your own COCO-json dataset, a time budget, one command: a from-scratch detector trained to fit
the budget on this machine (docs/own_dataset.md).

    python tools/train_own_data.py --train-json data/train.json --images data/img --minutes 40 --output output/mine
    python tools/train_own_data.py --train-json J --images DIR --val-json J2 --val-images DIR2 --minutes 10 --output OUT
    python tools/train_own_data.py ... --resume          # continue an interrupted run (same OUT)

It registers and checks the data, reports it (sizes, classes, masks), measures this machine's
seconds per step with a short probe, chooses input size and crops, a low-resolution phase 1 or
not, iterations and an LR schedule (steps at 75/90%) that end inside the budget, validations and the best
checkpoint (model EMA on), writes the full config to OUT/config_chosen.yaml (rerun it with
train_net.py), trains through the normal engine, evaluates the best model on the training images
too, and prints a summary (also OUT/summary.txt, OUT/val_ap_curve.png). The budget counts from
the start of the command: probe and evaluations included. KEY VALUE pairs at the end override
the chosen config (e.g. MODEL.DEVICE cuda).
"""

from __future__ import annotations

import time

T0 = time.time()  # the budget counts from the start of the command: imports, probe and evaluations included

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from scratchdet.config.budget_recipe import MAX_MEDIAN_OBJECT_PX  # noqa: E402

BASE = os.path.join(REPO, "configs", "OwnData", "own_data_base.yaml")
VAL_FRACTION = 0.2
CHOICE_FLAGS = ("train_json", "images", "val_json", "val_images", "val_fraction", "minutes", "top_down", "seed", "rules",
                "object_px", "config_file")


def _flag(key: str, value: object) -> str:
    """A given flag as the user typed it (for the --resume refusal)."""
    flag = "--" + key.replace("_", "-")
    return flag if value is True else f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-json", default="", help="COCO json of the annotated training images")
    ap.add_argument("--images", default="", help="folder of the training images (file_name is relative to it)")
    ap.add_argument("--val-json", default="", help="COCO json of validation images (else --val-fraction of the training json)")
    ap.add_argument("--val-images", default="")
    ap.add_argument("--val-fraction", type=float, default=None,
                    help=f"held-out share of the training json without --val-json (default {VAL_FRACTION:g})")
    ap.add_argument("--minutes", type=float, default=None, help="wall-clock budget of the whole command")
    ap.add_argument("--output", required=True)
    ap.add_argument("--top-down", action="store_true",
                    help="the images have no 'up' (aerial, microscopy): add vertical flips and 90-degree rotations")
    ap.add_argument("--seed", type=int, default=None, help="seed of the split and the training (default 0)")
    ap.add_argument("--rules", default=None, choices=("budget", "native"),
                    help="budget (default): the command's rules; native: the earlier recipe (whole images at "
                         "their size, LR steps, no EMA) at the same budget, to compare with")
    ap.add_argument("--object-px", type=float, default=None,
                    help="scale the images down until the median object side is at most this many pixels "
                         f"(default {MAX_MEDIAN_OBJECT_PX:g}, the rules' bound: smaller objects are cheaper steps; "
                         "larger keeps detail)")
    ap.add_argument("--resume", action="store_true", help="continue the run in --output with its chosen config")
    ap.add_argument("--config-file", default=None,
                    help="the base config (model, augmentation) the choice starts from (default configs/OwnData/own_data_base.yaml)")
    ap.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides, applied last")
    args = ap.parse_args(argv)
    # The flags that shape a new choice; --resume continues the chosen config and applies none of them.
    args.choice_flags = [_flag(k, getattr(args, k)) for k in CHOICE_FLAGS if getattr(args, k) not in (None, "", False)]
    args.config_file = args.config_file or BASE
    args.seed = 0 if args.seed is None else args.seed
    args.rules = args.rules or "budget"
    args.val_fraction = VAL_FRACTION if args.val_fraction is None else args.val_fraction
    if not args.resume:
        missing = [f for f, v in (("--train-json", args.train_json), ("--images", args.images),
                                  ("--minutes", "" if args.minutes is None else "set")) if not v]
        if missing:
            ap.error(f"the following arguments are required: {', '.join(missing)} (only --output with --resume)")
    return args


def main(args: argparse.Namespace) -> str:
    t_start = T0
    import json

    from detectron2.engine import default_argument_parser

    import train_net
    from scratchdet.config import load_config_file
    from scratchdet.config.errors import ConfigError
    from scratchdet.engine import evaluate
    from scratchdet.engine.run.own_data import CHOSEN, PLAN, TRAIN, Request, plan, summarise

    req = Request(args.train_json, args.images, args.output, args.minutes or 0.0, args.config_file, args.val_json,
                  args.val_images, args.val_fraction, args.seed, args.top_down, args.rules, list(args.opts),
                  **({} if args.object_px is None else {"object_px": args.object_px}))
    chosen = os.path.join(args.output, CHOSEN)
    if args.resume:
        if not os.path.isfile(chosen) or not os.path.isfile(os.path.join(args.output, PLAN)):
            raise ConfigError(f"--resume: {args.output} has no {CHOSEN} and {PLAN}; run without --resume first.")
        # A new choice would not be applied to a run whose config is chosen already: refused, not ignored.
        given = [*args.choice_flags, *args.opts]
        if given:
            raise ConfigError(f"--resume continues {chosen} as it is: {' '.join(given)} would not be applied; "
                              "give only --output and --resume, edit that file, or start a new --output.")
    else:
        p = plan(req, t_start)
        print(f"[train_own_data] {p['schedule']['reason']}; {p['input']['reason']}; config in {chosen}", flush=True)
    # The normal engine, as `train_net.py --config-file OUT/config_chosen.yaml [--resume]` runs it.
    train_net.main(default_argument_parser().parse_args(["--config-file", chosen, *(["--resume"] if args.resume else [])]))
    with open(os.path.join(args.output, PLAN)) as f:
        p = json.load(f)
    best = os.path.join(args.output, "model_best.pth")
    train_ap = None
    if p["train_eval_images"] and os.path.isfile(best):  # §6: train AP against val AP
        cfg = load_config_file(chosen, ["DATASETS.TEST", f"('{TRAIN}',)", "MODEL.WEIGHTS", best,
                                        "OUTPUT_DIR", os.path.join(args.output, "train_eval")])
        cfg.freeze()
        train_ap = evaluate(cfg, resume=False)["bbox"]["AP"]
    text = summarise(args.output, t_start, train_ap)
    print(text)
    return text


if __name__ == "__main__":
    from scratchdet.engine.user_errors import run_reporting_user_errors

    run_reporting_user_errors(main, parse())
