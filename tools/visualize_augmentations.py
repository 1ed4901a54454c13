#!/usr/bin/env python
"""A PNG grid of augmented training images with their boxes, classes and masks, as the training
mapper produces them (SCRATCHDET.AUG: policy, photometric, VFLIP, ROT90, Mosaic, Copy-Paste).

Each row is one training image: first as read (its dataset annotations), then --samples
augmented versions of it. Panels are drawn with detectron2's Visualizer.

Example:
    python tools/visualize_augmentations.py --config-file configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml \
        --output output/augmentations.png SCRATCHDET.AUG.POLICY lsj SCRATCHDET.AUG.LSJ.IMAGE_SIZE 128 \
        SCRATCHDET.AUG.COPY_PASTE.ENABLED True SCRATCHDET.AUG.MOSAIC.ENABLED True
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import convert_image_to_rgb
from detectron2.utils.visualizer import Visualizer

import scratchdet  # noqa: F401  (registration)
from scratchdet.config import load_config_file
from scratchdet.data import MAPPER_REGISTRY
from scratchdet.data.read_image import read_image_file
from scratchdet.engine.setup.plan import register_run_datasets

GAP = 4  # pixels between panels


def draw_mapped(out: dict, image_format: str, metadata, scale: float) -> np.ndarray:
    """RGB drawing of a mapper output: its image with gt boxes, class names and masks."""
    image = convert_image_to_rgb(out["image"].permute(1, 2, 0).numpy(), image_format)
    inst = out.get("instances")
    vis = Visualizer(image, metadata, scale=scale)
    if inst is not None and len(inst):
        names = metadata.get("thing_classes")
        labels = [names[c] if names else str(c) for c in inst.gt_classes.tolist()]
        masks = inst.gt_masks if inst.has("gt_masks") else None
        vis = vis.overlay_instances(boxes=inst.gt_boxes, labels=labels, masks=masks)
    else:
        vis = vis.output
    return vis.get_image()


def draw_original(d: dict, metadata, scale: float) -> np.ndarray:
    image = read_image_file(d["file_name"], "RGB")
    return Visualizer(image, metadata, scale=scale).draw_dataset_dict(d).get_image()


def grid(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Panels of any sizes in a grid (each cell as large as the largest panel), white gaps."""
    ch = max(p.shape[0] for r in rows for p in r)
    cw = max(p.shape[1] for r in rows for p in r)
    ncols = max(len(r) for r in rows)
    canvas = np.full((len(rows) * (ch + GAP) - GAP, ncols * (cw + GAP) - GAP, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, p in enumerate(row):
            y, x = i * (ch + GAP), j * (cw + GAP)
            canvas[y : y + p.shape[0], x : x + p.shape[1]] = p
    return canvas


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--output", default="output/augmentations.png")
    parser.add_argument("--num-images", type=int, default=4, help="rows: training images drawn")
    parser.add_argument("--samples", type=int, default=4, help="augmented versions of each image")
    parser.add_argument("--mapper", default="AugmentedDatasetMapper",
                        help="training mapper (a MAPPER_REGISTRY name); the default applies SCRATCHDET.AUG")
    parser.add_argument("--scale", type=float, default=2.0, help="drawing scale of each panel")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)

    cfg = load_config_file(args.config_file, args.opts)
    register_run_datasets(cfg)
    name = cfg.DATASETS.TRAIN[0]
    metadata = MetadataCatalog.get(name)
    mapper = MAPPER_REGISTRY.get(args.mapper)(cfg, True)

    np.random.seed(args.seed)  # detectron2's augmentations and the mapper's generator draw from it
    dicts = DatasetCatalog.get(name)
    picks = np.random.choice(len(dicts), size=min(args.num_images, len(dicts)), replace=False)
    rows = []
    for i in picks:
        row = [draw_original(dicts[i], metadata, args.scale)]
        row += [draw_mapped(mapper(dicts[i]), cfg.INPUT.FORMAT, metadata, args.scale) for _ in range(args.samples)]
        rows.append(row)

    from PIL import Image

    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    Image.fromarray(grid(rows)).save(args.output)
    print(f"Wrote {args.output}: {len(rows)} images x (original + {args.samples} augmented)")
    return args.output


if __name__ == "__main__":
    from scratchdet.engine.user_errors import run_reporting_user_errors

    run_reporting_user_errors(main, None)  # a user error: one line, exit code 2
