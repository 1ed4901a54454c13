#!/usr/bin/env python
"""PNGs of jigsaw pre-training inputs and labels, for a jigsaw config:

- ``canvases.png``: training canvases with their cells (group and label);
- ``erf.png``: the ERF (back-propagated, see scratchdet/modeling/jigsaw/erf.py) of the output position
  at the centre of each cell of the first canvas, over that canvas;
- ``soft_labels.png``: for each cell of the first canvas, the weight of its label in every output
  position's target under SCRATCHDET.JIGSAW.LABEL_MODE (and TAU).

Example:
    python tools/visualize_jigsaw.py --config-file projects/JigsawPretrain/configs/jigsaw_R18_shapes_cpu.yaml \
        --output output/jigsaw_vis [--weights output/jigsaw/model_final.pth] [KEY VALUE ...]

Without --weights the ERF is that of the randomly initialised backbone.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from a checkout

from detectron2.data import MetadataCatalog
from detectron2.data.detection_utils import convert_image_to_rgb

import scratchdet  # noqa: F401  (registration)
from scratchdet.checkpoint import ScratchCheckpointer
from scratchdet.config import load_config_file
from scratchdet.data.jigsaw import CELL_GROUPS, JigsawMapper
from scratchdet.engine import Trainer, resolve_config

CELL_COLORS = ("#e41a1c", "#377eb8", "#4daf4a", "#ff7f00")


def label_names(cfg, num_classes: int) -> list[str]:
    classes = MetadataCatalog.get(cfg.DATASETS.TRAIN[0]).get("thing_classes") or [str(i) for i in range(num_classes)]
    return list(classes) + ["background"]


def draw_cells(ax, cells: np.ndarray, labels: np.ndarray, names: list[str], text: bool = True) -> None:
    from matplotlib import patches

    for k, (x0, y0, x1, y1) in enumerate(cells):
        ax.add_patch(patches.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1.5, ec=CELL_COLORS[k]))
        if text:
            ax.text(x0 + 1, y0 + 1, f"{CELL_GROUPS[k]}: {names[labels[k]]}", va="top", fontsize=7,
                    color="white", bbox={"fc": CELL_COLORS[k], "alpha": 0.8, "pad": 1, "lw": 0})


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--output", default="output/jigsaw_vis")
    parser.add_argument("--num-canvases", type=int, default=8)
    parser.add_argument("--weights", default="", help="checkpoint of the jigsaw model (ERF of a trained model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dpi", type=int, default=80)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = load_config_file(args.config_file, args.opts)
    cfg.MODEL.DEVICE = "cpu"
    cfg = resolve_config(cfg)  # datasets registered, NUM_CLASSES 0 filled from the data
    os.makedirs(args.output, exist_ok=True)
    mapper = JigsawMapper(cfg, is_train=True)
    np.random.seed(args.seed)
    batch = [mapper({"image_id": i}) for i in range(args.num_canvases)]
    names = label_names(cfg, mapper.samples.num_classes)
    written = []

    def rgb(d: dict) -> np.ndarray:
        return convert_image_to_rgb(d["image"].permute(1, 2, 0).numpy(), cfg.INPUT.FORMAT)

    cols = min(4, len(batch))
    rows = (len(batch) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, d in zip(axes.flat, batch):
        ax.imshow(rgb(d))
        draw_cells(ax, d["cells"].numpy(), d["cell_labels"].numpy(), names)
    fig.suptitle("Jigsaw canvases: group and label of each cell")
    fig.tight_layout()
    written.append(os.path.join(args.output, "canvases.png"))
    fig.savefig(written[-1], dpi=args.dpi, bbox_inches="tight")
    plt.close(fig)

    model = Trainer.build_model(cfg)
    if args.weights:  # the project's safe loading (weights_only) and its checks
        ScratchCheckpointer.from_config(cfg, model, save_dir="", for_evaluation=True).load(args.weights, checkpointables=[])
    model.eval()
    images = model.preprocess_image(batch).tensor
    radius = model.refresh_erf(images)
    with torch.no_grad():
        feat_hw = tuple(model._features(images[:1]).shape[-2:])
    image_hw = tuple(images.shape[-2:])
    d0 = batch[0]
    cells, labels = d0["cells"][None], d0["cell_labels"][None]
    h, w = model.erf_integral.shape[1] - 1, model.erf_integral.shape[2] - 1
    erf = model.erf_integral.diff(dim=1).diff(dim=2).view(*feat_hw, h, w)  # maps back from integral images

    fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
    for k, ax in enumerate(axes):
        x0, y0, x1, y1 = d0["cells"][k].tolist()
        i = min(int((y0 + y1) / 2 * feat_hw[0] / image_hw[0]), feat_hw[0] - 1)
        j = min(int((x0 + x1) / 2 * feat_hw[1] / image_hw[1]), feat_hw[1] - 1)
        ax.imshow(rgb(d0), alpha=0.5)
        ax.imshow(erf[i, j].numpy(), cmap="inferno", alpha=0.6, extent=(0, w * model.erf_pool, h * model.erf_pool, 0))
        cy, cx = (i + 0.5) * image_hw[0] / feat_hw[0], (j + 0.5) * image_hw[1] / feat_hw[1]
        ax.plot([cx], [cy], "c+", ms=10)
        draw_cells(ax, d0["cells"].numpy(), d0["cell_labels"].numpy(), names, text=False)
        ax.set_title(f"ERF of position ({i},{j}) in cell {k}", fontsize=9)
        ax.axis("off")
    fig.suptitle(f"Effective receptive fields (mean radius {radius:.1f} px, {'trained' if args.weights else 'random init'})")
    fig.tight_layout()
    written.append(os.path.join(args.output, "erf.png"))
    fig.savefig(written[-1], dpi=args.dpi, bbox_inches="tight")
    plt.close(fig)

    weights, _ = model.label_weights(cells, feat_hw, image_hw)
    weights = weights[0].view(4, *feat_hw)
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
    for k, ax in enumerate(axes):
        ax.imshow(rgb(d0), alpha=0.4)
        im = ax.imshow(weights[k].numpy(), cmap="viridis", vmin=0, vmax=1, alpha=0.7, interpolation="nearest",
                       extent=(0, image_hw[1], image_hw[0], 0))
        for (i, j), v in np.ndenumerate(weights[k].numpy()):
            ax.text((j + 0.5) * image_hw[1] / feat_hw[1], (i + 0.5) * image_hw[0] / feat_hw[0], f"{v:.2f}",
                    ha="center", va="center", fontsize=6, color="white")
        draw_cells(ax, d0["cells"].numpy(), d0["cell_labels"].numpy(), names, text=False)
        ax.set_title(f"weight of cell {k} ({CELL_GROUPS[k]}: {names[int(labels[0, k])]})", fontsize=9)
        ax.axis("off")
    fig.colorbar(im, ax=list(axes), fraction=0.02)
    mode = cfg.SCRATCHDET.JIGSAW.LABEL_MODE
    fig.suptitle(f"Soft label weights per output position, LABEL_MODE={mode}"
                 + (f", TAU={cfg.SCRATCHDET.JIGSAW.TAU}" if mode == "erf" else ""))
    written.append(os.path.join(args.output, "soft_labels.png"))
    fig.savefig(written[-1], dpi=args.dpi, bbox_inches="tight")
    plt.close(fig)
    for p in written:
        print(p)
    return written


if __name__ == "__main__":
    from scratchdet.engine.user_errors import run_reporting_user_errors

    run_reporting_user_errors(main, None)  # a user error: one line, exit code 2
