#!/usr/bin/env python
"""Does data loading keep up? One table over every training mapper, each on its CPU config:

* mapper, in-process: images/s of the mapper called in this process (one core, no workers);
* loader: images/s of the training data loader as the Trainer builds it (the config's
  DATALOADER.NUM_WORKERS after the CPU cap, batching and inter-process transfer included),
  measured while nothing else runs;
* model: images/s the model consumes: IMS_PER_BATCH / (median time of one training step:
  forward, backward, optimizer step) on batches taken from that loader;
* loader / model: goal >= 3; "cores for loading" = model / mapper-in-process, the share of one
  core the mapper needs to feed the model while training (the model's threads use the rest).

    .venv/bin/python bench/data_loading.py                # every row
    .venv/bin/python bench/data_loading.py --rows default jigsaw --batches 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from augmentation import AUG, POLICIES
from augmentation import CONFIG as DEMO
from common import REPO

DIRECT = "projects/DirectPretrain/configs/faster_rcnn_R18_FPN_direct_shapes_cpu.yaml"
JIGSAW = "projects/JigsawPretrain/configs/jigsaw_then_faster_rcnn_R18_FPN_shapes_cpu.yaml"
SSD = "projects/ScratchDet/configs/scratchdet_rootres18_shapes_cpu.yaml"
CP_MOSAIC = [*AUG, "SCRATCHDET.AUG.COPY_PASTE.ENABLED", "True", "SCRATCHDET.AUG.COPY_PASTE.PROB", "0.5",
             "SCRATCHDET.AUG.MOSAIC.ENABLED", "True", "SCRATCHDET.AUG.MOSAIC.PROB", "0.5"]
# row name: (config, overrides, phase 1 of a two-phase config?)
ROWS = {
    "default": (DEMO, [], False),
    **{f"augmented: {name}": (DEMO, opts, False) for name, opts in POLICIES.items()
       if name != "none" and not name.startswith(("default", "lsj + "))},
    "augmented: copy-paste + mosaic": (DEMO, CP_MOSAIC, False),
    "low-res (DirectPretrain phase 1)": (DIRECT, [], True),
    "jigsaw (JigsawPretrain phase 1)": (JIGSAW, [], True),
    "SSD (ScratchDet root-ResNet-18)": (SSD, [], False),
}


def measure(config: str, opts: list[str], phase1: bool, batches: int, steps: int) -> dict:
    import torch
    from detectron2.utils.events import EventStorage

    from scratchdet.config import load_config_file
    from scratchdet.data import build_mapper
    from scratchdet.engine import Trainer, checked_dicts, resolve_config
    from scratchdet.engine.run.phases import phase1_config
    from scratchdet.engine.train.cpu_threads import configure_cpu

    cfg = load_config_file(os.path.join(REPO, config), opts)
    cfg = resolve_config(phase1_config(cfg) if phase1 else cfg, training=True)
    cfg = configure_cpu(cfg)  # the threads and workers a training would get
    batch = cfg.SOLVER.IMS_PER_BATCH

    dicts = checked_dicts(cfg, cfg.DATASETS.TRAIN, is_train=True, filter_empty=False)
    mapper = build_mapper(cfg, is_train=True, dataset_dicts=dicts)
    n = batches * batch
    for d in dicts[:4]:
        mapper(d)  # warm-up (lazy pools, first-call caches)
    t0 = time.perf_counter()
    for i in range(n):
        mapper(dicts[i % len(dicts)])
    mapper_ips = n / (time.perf_counter() - t0)

    it = iter(Trainer.build_train_loader(cfg, dicts))
    next(it)  # worker start-up is not throughput
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    loader_ips = batches * batch / (time.perf_counter() - t0)
    data = [next(it) for _ in range(steps + 2)]
    del it

    model = Trainer.build_model(cfg)
    model.train()
    optimizer = Trainer.build_optimizer(cfg, model)
    times = []
    with EventStorage(0):  # the heads log into it, as inside a Trainer
        for k, b in enumerate(data):
            t0 = time.perf_counter()
            losses = model(b)
            loss = sum(losses.values()) if isinstance(losses, dict) else losses
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if k >= 2:  # two warm-up steps
                times.append(time.perf_counter() - t0)
    model_ips = batch / statistics.median(times)
    return {"workers": cfg.DATALOADER.NUM_WORKERS, "batch": batch, "threads": torch.get_num_threads(),
            "mapper": mapper_ips, "loader": loader_ips, "model": model_ips}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", nargs="+", default=None, help="row names (prefixes) from ROWS; default: all")
    ap.add_argument("--batches", type=int, default=20, help="loader batches timed per row")
    ap.add_argument("--steps", type=int, default=5, help="training steps timed per row (after 2 warm-up)")
    args = ap.parse_args()
    sys.path.insert(0, REPO)
    os.environ.setdefault("SCRATCHDET_SHAPES_ROOT", os.path.join(REPO, "datasets", "scratchdet_shapes"))
    import logging

    import scratchdet  # noqa: F401  (registration)

    logging.getLogger("detectron2").setLevel(logging.WARNING)
    names = [r for r in ROWS if args.rows is None or any(r.startswith(p) for p in args.rows)]
    out = []
    for name in names:
        config, opts, phase1 = ROWS[name]
        r = measure(config, opts, phase1, args.batches, args.steps)
        out.append((name, config, r))
        print(name, {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}, flush=True)
    print("\n| mapper | config | workers | mapper in-process (img/s) | loader (img/s) | model (img/s) "
          "| loader / model | cores for loading |\n|---|---|---|---|---|---|---|---|")
    for name, config, r in out:
        print(f"| {name} | {os.path.basename(config)} | {r['workers']} | {r['mapper']:.0f} | {r['loader']:.0f} "
              f"| {r['model']:.1f} | **{r['loader'] / r['model']:.1f}x** | {r['model'] / r['mapper']:.2f} |")
    worst = min(out, key=lambda x: x[2]["loader"] / x[2]["model"])
    print(f"lowest loader/model: {worst[0]} at {worst[2]['loader'] / worst[2]['model']:.1f}x (goal >= 3x)")


if __name__ == "__main__":
    main()
