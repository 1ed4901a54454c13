#!/usr/bin/env python
"""What a dataset looks like to a detector, and the config keys that fit it.

    .venv/bin/python tools/dataset_report.py nuclei_train --config-file CONFIG.yaml --input-size 128 \
        --apply output/nuclei_sizes.yaml [KEY VALUE ...]

Prints images, classes, boxes per image (max, p95), box sizes (sqrt of the area) in pixels,
relative to the image and after resizing to --input-size, and suggests INPUT.MIN/MAX_SIZE_*,
MODEL.ANCHOR_GENERATOR.SIZES, NUM_CLASSES, TEST.DETECTIONS_PER_IMAGE and the RPN's test top-k.
Writes a PNG histogram (next to --apply's yaml, or --png) and, with --apply, a yaml to put under
your config's _BASE_ chain (nothing else is changed). The dataset may be registered by name or
from the config (SCRATCHDET.DATA.COCO / VOC / SPLIT).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import yaml
from detectron2.data import DatasetCatalog, MetadataCatalog

import scratchdet  # noqa: F401
from scratchdet.config import load_config_file
from scratchdet.data.datasets import ensure_dataset_files
from scratchdet.data.datasets.availability import check_registered
from scratchdet.data.datasets.statistics import dataset_statistics, suggested_config
from scratchdet.engine.setup.plan import register_run_datasets

DEFAULT_CONFIG = "configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml"


def nested(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = list(value) if isinstance(value, tuple) else value
    return out


def draw(stats: dict, anchors: list, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = stats["_sizes"]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4))
    ax[0].hist([s["px"], s["resized"]], bins=40, label=["as stored", f"at input size {stats['input_size']}"])
    for a in sum(anchors, []):
        ax[0].axvline(a, color="k", ls="--", lw=0.8)
    ax[0].set(xlabel="box size sqrt(w*h) [px] (dashed: suggested anchors)", ylabel="boxes")
    ax[0].legend()
    ax[1].hist(s["relative"], bins=40)
    ax[1].set(xlabel="box size / image size (sqrt of areas)", ylabel="boxes")
    ax[2].hist(s["per_image"], bins=min(40, max(1, stats["boxes_per_image"]["max"] + 1)))
    ax[2].set(xlabel="boxes per image", ylabel="images")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--config-file", default=DEFAULT_CONFIG, help="its datasets are registered; its model sets the levels")
    ap.add_argument("--input-size", type=int, default=0, help="shorter side at training/test (default: the median image's)")
    ap.add_argument("--apply", default="", help="write the suggested keys to this yaml")
    ap.add_argument("--base", default="", help="with --apply: the written yaml has _BASE_ this config, so it runs as it is")
    ap.add_argument("--png", default="", help="histogram PNG (default: next to --apply, else output/dataset_report/)")
    # Anything else is KEY VALUE config overrides (after the dataset name and the options).
    args, opts = ap.parse_known_args(argv)
    cfg = load_config_file(args.config_file, opts)
    register_run_datasets(cfg)
    check_registered([args.dataset], "tools/dataset_report.py DATASET")
    ensure_dataset_files(args.dataset)
    dicts = DatasetCatalog.get(args.dataset)
    classes = MetadataCatalog.get(args.dataset).get("thing_classes")
    stats = dataset_statistics(dicts, classes, args.input_size or None, progress=len(dicts) > 1000)
    keys = suggested_config(stats, cfg)
    def q(d):
        return (", ".join(f"p{k} {v:.3g}" for k, v in d.items()))
    print(f"dataset {args.dataset}: {stats['images']} images, {stats['boxes']} boxes, {len(stats['classes'])} classes")
    print("boxes per class: " + ", ".join(f"{k} {v}" for k, v in stats["boxes_per_class"].items()))
    b = stats["boxes_per_image"]
    print(f"boxes per image: max {b['max']}, p95 {b['p95']:.1f}, mean {b['mean']:.1f}")
    print(f"image shorter side: {stats['image_short_side']}; largest aspect ratio {stats['max_aspect_ratio']:.2f}")
    print(f"box size sqrt(w*h) in px: {q(stats['box_size_px'])}")
    print(f"box size relative to the image: {q(stats['box_size_relative'])}")
    print(f"box size at input size {stats['input_size']}: {q(stats['box_size_resized'])}")
    print("suggested config:")
    for k, v in keys.items():
        print(f"  {k}: {v}")
    png = args.png or (os.path.splitext(args.apply)[0] + ".png" if args.apply
                       else os.path.join("output", "dataset_report", f"{args.dataset}.png"))
    draw(stats, keys["MODEL.ANCHOR_GENERATOR.SIZES"], png)
    print(f"wrote {png}")
    if args.apply:
        os.makedirs(os.path.dirname(os.path.abspath(args.apply)), exist_ok=True)
        with open(args.apply, "w") as f:
            f.write(f"# Suggested by tools/dataset_report.py {args.dataset} --input-size {stats['input_size']}\n")
            if args.base:  # detectron2 resolves a relative _BASE_ from the yaml's own folder
                base = os.path.relpath(os.path.abspath(args.base), os.path.dirname(os.path.abspath(args.apply)))
                f.write(yaml.safe_dump({"_BASE_": base}))
            yaml.safe_dump(nested(keys), f, default_flow_style=None, sort_keys=True)
        print(f"wrote {args.apply}" + (f" (_BASE_: {args.base}; train with --config-file {args.apply})" if args.base
                                       else " (add it to your config's _BASE_ chain, or write it with --base CONFIG)"))
    return keys


if __name__ == "__main__":
    from scratchdet.engine.user_errors import run_reporting_user_errors

    run_reporting_user_errors(main, None)  # a user error: one line, exit code 2
