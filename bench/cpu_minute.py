#!/usr/bin/env python
"""What makes a CPU-minute buy more training for tools/train_own_data.py's case: the own-data
model (Mask R-CNN R18-FPN, BN everywhere, box-only here) at 400 px, 8 images per batch, on the
tree-crown tiles (datasets/prepare_trees.py). One option per call, measured against the baseline
in the same call, alternated ``--rounds`` times (these machines are noisy: compare ratios, not
seconds); each result is appended to bench/results/cpu_minute.jsonl. Run alone on the machine.

    python datasets/prepare_trees.py
    python bench/cpu_minute.py --option channels_last --rounds 2 --iters 15
    python bench/cpu_minute.py --option fuse_eval --rounds 3 --images 20
    python bench/cpu_minute.py --table

Options change speed only if they do not change AP: an option that is faster must then be
checked at equal wall-clock with bench/study.py before the own-data rules adopt it.

``fuse_eval`` (SCRATCHDET.TEST.FUSE_CONV_BN, BN folded into the convs for evaluation and
prediction) is measured at inference instead, in this process: seconds per test image (one image
per forward, as evaluation runs), the model as built against its fused copy, with the largest
differences of their backbone features, scores and boxes (what shows that AP cannot change).
Random weights (their BN statistics made non-trivial from the images) unless ``--weights``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time

from common import FIXED_THREADS, REPO, run, seconds_per_iter

BASE = "configs/OwnData/own_data_base.yaml"
DATA = ["SCRATCHDET.DATA.COCO", "[['trees_train', 'datasets/trees/train.json', 'datasets/trees/train']]",
        "DATASETS.TRAIN", "('trees_train',)", "DATASETS.TEST", "()", "MODEL.MASK_ON", "False",
        "MODEL.ROI_HEADS.NUM_CLASSES", "1", "INPUT.MIN_SIZE_TRAIN", "(400,)", "INPUT.MAX_SIZE_TRAIN", "448",
        "INPUT.MIN_SIZE_TEST", "400", "INPUT.MAX_SIZE_TEST", "448", "SOLVER.IMS_PER_BATCH", "8",
        "TEST.EVAL_PERIOD", "0", "SOLVER.CHECKPOINT_PERIOD", "100000", "SCRATCHDET.VIS.NUM_IMAGES", "0",
        "SCRATCHDET.VAL_LOSS.ENABLED", "False"]
OPTIONS = {
    "channels_last": ["SCRATCHDET.CPU.CHANNELS_LAST", "True"],
    "bf16": ["SCRATCHDET.CPU.AUTOCAST_BF16", "True"],
    "roi32": ["MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32"],
    "fc128": ["MODEL.ROI_BOX_HEAD.FC_DIM", "128"],
    "crop256": ["SCRATCHDET.AUG.CROP_AFTER_RESIZE", "256"],
    "ema_off": ["SCRATCHDET.EMA.ENABLED", "False"],
    # Its compile (first step) is outside the median s/iter: the rows' *_wall_s show it (the first
    # run on a machine compiles cold, later ones reuse torch's kernel cache, /tmp/torchinductor_<user>).
    "compile": ["SCRATCHDET.CPU.COMPILE", "backbone"],
}
# Options of evaluation/prediction, not of training: measured in this process, inference s/image.
EVAL_OPTIONS = ("fuse_eval",)  # SCRATCHDET.TEST.FUSE_CONV_BN
RESULTS = os.path.join(REPO, "bench", "results", "cpu_minute.jsonl")


def measure(opts: list[str], iters: int, out: str) -> tuple[float, float]:
    """(median s/iter, wall seconds of the whole run: start-up and a compile included)."""
    # A fresh folder: detectron2 appends to an existing metrics.json, whose earlier runs would
    # then count in this run's median.
    shutil.rmtree(os.path.join(REPO, out), ignore_errors=True)
    wall = run(["--config-file", BASE, *DATA, *opts, "SOLVER.MAX_ITER", str(iters), "OUTPUT_DIR", out])["wall_s"]
    return seconds_per_iter(out), wall


def _eval_inputs(cfg, n: int) -> list[dict]:
    """``n`` tree tiles of the test split (the training split without one) as the model takes them
    at test time: resized to INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST, CHW in INPUT.FORMAT."""
    import numpy as np
    import torch
    from detectron2.data import detection_utils
    from detectron2.data import transforms as T

    root = os.path.join(REPO, "datasets", "trees")
    split = "test" if os.path.isfile(os.path.join(root, "test.json")) else "train"
    with open(os.path.join(root, f"{split}.json")) as f:
        names = [im["file_name"] for im in json.load(f)["images"]]
    resize = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
    inputs = []
    for i in range(n):  # the tiles again when there are fewer than n
        img = detection_utils.read_image(os.path.join(root, split, names[i % len(names)]), format=cfg.INPUT.FORMAT)
        h, w = img.shape[:2]
        resized = resize.get_transform(img).apply_image(img)
        inputs.append({"image": torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1))), "height": h, "width": w})
    return inputs


def _nontrivial_bn(model, inputs: list[dict]) -> None:
    """Random weights: a fresh BN is the identity at eval, so folding it would change nothing. The
    backbone's BN statistics come from the images (their plain average, so activations keep their
    scale), the heads' statistics and every BN's scale and shift are random."""
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(0)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, min(len(inputs), 8), 2):
            model.backbone(model.preprocess_image(inputs[i:i + 2]).tensor)
        for bn in bns:
            c = bn.num_features
            if bn.num_batches_tracked == 0:  # not reached by the backbone's pass: the heads
                bn.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
                bn.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
            bn.weight.copy_(torch.rand(c, generator=g) + 0.5)
            bn.bias.copy_(torch.randn(c, generator=g) * 0.3)
    model.eval()


def _output_differences(base: list, fused: list) -> dict:
    """The largest differences between the two models' detections, image by image: scores sorted
    (the order of near-ties may differ), each box against the nearest box of the other model."""
    score = box = 0.0
    same_counts = True
    for a, b in zip(base, fused):
        a, b = a["instances"], b["instances"]
        same_counts &= len(a) == len(b)
        if len(a) and len(b):
            sa, sb = a.scores.sort(descending=True).values, b.scores.sort(descending=True).values
            k = min(len(sa), len(sb))
            score = max(score, (sa[:k] - sb[:k]).abs().max().item())
            d = (a.pred_boxes.tensor[:, None, :] - b.pred_boxes.tensor[None, :, :]).abs().amax(-1)
            box = max(box, d.amin(1).max().item(), d.amin(0).max().item())
    return {"max_abs_diff_scores": score, "max_abs_diff_boxes_px": box, "same_detection_counts": same_counts}


def measure_eval(option: str, rounds: int, n_images: int, weights: str) -> dict:
    """Inference seconds per image (one image per forward, as evaluation runs) of the model as
    built and with ``option`` (fuse_eval: BN folded into the convs, SCRATCHDET.TEST.FUSE_CONV_BN),
    alternated ``rounds`` times in this process, and how far the outputs differ."""
    sys.path.insert(0, REPO)
    import torch
    from detectron2.layers import FrozenBatchNorm2d
    from torch import nn

    import scratchdet  # noqa: F401  (registration)
    from scratchdet.checkpoint import ScratchCheckpointer
    from scratchdet.config import load_config_file
    from scratchdet.engine import Trainer
    from scratchdet.engine.train.cpu_threads import configure_cpu
    from scratchdet.modeling.conv_bn_fusion import fuse_conv_bn

    assert option == "fuse_eval", option
    cfg = load_config_file(os.path.join(REPO, BASE), [*DATA, "SCRATCHDET.EMA.ENABLED", "True", *FIXED_THREADS])
    configure_cpu(cfg)  # the threads a training's evaluation would use
    torch.manual_seed(0)
    model = Trainer.build_model(cfg)
    inputs = _eval_inputs(cfg, n_images + 1)  # the first one warms up
    if weights:
        ScratchCheckpointer.from_config(cfg, model, save_dir="", for_evaluation=True).load(weights, checkpointables=[])
        model.eval()
    else:
        _nontrivial_bn(model, inputs)
    models = {"baseline": model, "option": fuse_conv_bn(model)}

    def n_bn(m: nn.Module) -> int:
        return sum(isinstance(x, (nn.BatchNorm2d, nn.SyncBatchNorm, FrozenBatchNorm2d)) for x in m.modules())

    times: dict[str, list[float]] = {k: [] for k in models}
    with torch.no_grad():
        outs = {k: [m([x])[0] for x in inputs] for k, m in models.items()}  # also the warm-up
        feature_diff = feature_max = 0.0
        for x in inputs:
            images = model.preprocess_image([x]).tensor
            ref, out = model.backbone(images), models["option"].backbone(images)
            feature_diff = max([feature_diff, *((out[f] - ref[f]).abs().max().item() for f in ref)])
            feature_max = max([feature_max, *(ref[f].abs().max().item() for f in ref)])
        for r in range(rounds):
            # Which model goes first alternates: neither always gets the warmer caches.
            for k, m in list(models.items())[::1 if r % 2 == 0 else -1]:
                t0 = time.perf_counter()
                for x in inputs[1:]:
                    m([x])
                times[k].append((time.perf_counter() - t0) / n_images)
    return {"option": option, "measure": "inference s/image", "baseline_s_per_image": times["baseline"],
            "option_s_per_image": times["option"],
            "ratio": statistics.median(times["option"]) / statistics.median(times["baseline"]),
            "images": n_images, "threads": torch.get_num_threads(),
            "weights": weights or "random (BN statistics of the images, random BN affine)",
            "bn_layers": n_bn(model), "bn_layers_left": n_bn(models["option"]),
            "max_abs_diff_features": feature_diff, "max_abs_features": feature_max,
            **_output_differences(outs["baseline"], outs["option"]), "date": time.strftime("%Y-%m-%d")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--option", choices=sorted([*OPTIONS, *EVAL_OPTIONS]))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=15)
    ap.add_argument("--images", type=int, default=20, help="fuse_eval: images timed per round")
    ap.add_argument("--weights", default="", help="fuse_eval: a checkpoint to load (e.g. a trained own-data "
                    "model_final.pth, for detections that mean something); random weights otherwise")
    ap.add_argument("--table", action="store_true")
    a = ap.parse_args()
    if a.option:
        if not os.path.isfile(os.path.join(REPO, "datasets", "trees", "train.json")):
            raise SystemExit("datasets/trees is missing: run python datasets/prepare_trees.py first.")
        if a.option in EVAL_OPTIONS:
            row = measure_eval(a.option, a.rounds, a.images, a.weights)
        else:
            base, opt = [], []
            for r in range(a.rounds):
                base.append(measure(["SCRATCHDET.EMA.ENABLED", "True"], a.iters, f"output/cpu_minute/base_{r}"))
                opt.append(measure(["SCRATCHDET.EMA.ENABLED", "True", *OPTIONS[a.option]], a.iters,
                                   f"output/cpu_minute/{a.option}_{r}"))
            (base, base_wall), (opt, opt_wall) = zip(*base), zip(*opt)  # measure's (s/iter, wall s)
            row = {"option": a.option, "baseline_s_per_iter": list(base), "option_s_per_iter": list(opt),
                   "ratio": statistics.median(opt) / statistics.median(base), "iters": a.iters,
                   "baseline_wall_s": [round(w, 1) for w in base_wall], "option_wall_s": [round(w, 1) for w in opt_wall],
                   "date": time.strftime("%Y-%m-%d")}
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row))
    if a.table or not a.option:
        rows = [json.loads(line) for line in open(RESULTS)] if os.path.isfile(RESULTS) else []
        print("| option | measured | baseline | option | option / baseline |\n|---|---|---|---|---|")
        for r in rows:
            unit = "s_per_image" if "baseline_s_per_image" in r else "s_per_iter"  # inference rows / training rows
            print(f"| {r['option']} | {r.get('measure', 'training s/iter')} | {statistics.median(r[f'baseline_{unit}']):.3f} | "
                  f"{statistics.median(r[f'option_{unit}']):.3f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
