#!/usr/bin/env python
"""Plot the losses (and evaluation AP) of a detectron2 metrics.json; two-phase runs get one line
style per phase.

    .venv/bin/python tools/plot_loss_curves.py output/demo/metrics.json output/demo/loss_curve.png
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scratchdet.engine.hooks.metrics_log import plot_loss_curves


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("metrics_json")
    ap.add_argument("output_png")
    args = ap.parse_args(argv)
    if not os.path.isfile(args.metrics_json):
        from scratchdet.config.errors import ConfigError

        raise ConfigError(f"{args.metrics_json}: no such file (give a training's OUTPUT_DIR/metrics.json).")
    out = plot_loss_curves(args.metrics_json, args.output_png)
    print(f"wrote {out}" if out else f"no loss values in {args.metrics_json}")


if __name__ == "__main__":
    from scratchdet.engine.user_errors import run_reporting_user_errors

    run_reporting_user_errors(main, None)  # a user error: one line, exit code 2
