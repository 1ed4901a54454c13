#!/usr/bin/env python
"""Step-by-step training (DEYO) on the embedded shapes data, one row per invocation (each run
fits in a few minutes; results and checkpoints stay in --out, so rows run in separate commands):

    python bench/deyo.py stage1 --arch FCOS --iters 800            # stage 1 alone (AP with NMS)
    python bench/deyo.py stage2 --arch FCOS --ref stage1 --iters 400   # stage 2 on that stage 1
    python bench/deyo.py stage2 --arch FCOS --ref encoder_head --iters 400   # the ablation
    python bench/deyo.py stage1_same_time --arch FCOS --ref stage1  # stage 1 for stage 1 + stage 2's time
    python bench/deyo.py latency --arch FCOS --ref stage1           # per-image latency, batch 1
    python bench/deyo.py report                                     # the README tables from --out

Rows: stage-2 AP without NMS against stage 1's AP with NMS and against stage 1 trained for the
same total time (its iterations: stage 1's plus stage 2's time at stage 1's speed); reference
boxes from stage 1's box branch against a new encoder box head; latency and peak memory (RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from common import REPO, final_ap, run, seconds_per_iter

CONFIG = "projects/DEYO/configs/deyo_two_stage_R18_FPN_shapes_cpu.yaml"
COMMON = ["SOLVER.CHECKPOINT_PERIOD", "100000", "SCRATCHDET.VIS.NUM_IMAGES", "0"]


def _arch_opts(arch: str) -> list[str]:
    return ["SCRATCHDET.PHASE1.MODEL.META_ARCHITECTURE", arch, "SCRATCHDET.DEYO.STAGE1_ARCH", arch]


def _save(out: str, row: str, res: dict) -> None:
    os.makedirs(os.path.join(out, "results"), exist_ok=True)
    with open(os.path.join(out, "results", row + ".json"), "w") as f:
        json.dump(res, f, indent=1)
    print(row, json.dumps(res))


def _load(out: str, row: str) -> dict | None:
    path = os.path.join(out, "results", row + ".json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def stage1(out: str, arch: str, iters: int, seed: int, name: str | None = None) -> dict:
    name = name or f"stage1_{arch}_s{seed}"
    r = run(["--config-file", CONFIG, *COMMON, *_arch_opts(arch), "SEED", str(seed), "SCRATCHDET.RUN_PHASES", "pretrain",
             "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(iters), "SCRATCHDET.PHASE1.SOLVER.STEPS", f"({int(iters * 0.8)},)",
             "OUTPUT_DIR", f"{out}/{name}"])
    d = f"{out}/{name}/phase1"
    res = {"arch": arch, "iters": iters, "seed": seed, "AP": final_ap(d), "s_per_iter": seconds_per_iter(d),
           "peak_rss_mb": r["peak_rss_mb"]}
    _save(out, name, res)
    return res


def stage2(out: str, arch: str, ref: str, iters: int, seed: int, opts: list[str] = (), tag: str = "") -> dict:
    name = f"stage2_{arch}_{ref}{tag}_s{seed}"
    weights = f"{out}/stage1_{arch}_s{seed}/phase1/model_final.pth"
    if not os.path.isfile(weights):
        sys.exit(f"{weights} missing: run 'stage1 --arch {arch} --seed {seed}' first.")
    r = run(["--config-file", CONFIG, *COMMON, *_arch_opts(arch), "SEED", str(seed), "SCRATCHDET.RUN_PHASES", "finetune",
             "MODEL.WEIGHTS", weights, "SCRATCHDET.DEYO.REFERENCE_BOXES", ref, "SOLVER.MAX_ITER", str(iters),
             "SOLVER.STEPS", f"({int(iters * 0.8)},)", "OUTPUT_DIR", f"{out}/{name}", *opts])
    d = f"{out}/{name}/phase2"
    res = {"arch": arch, "ref": ref, "opts": list(opts), "iters": iters, "seed": seed, "AP": final_ap(d), "s_per_iter": seconds_per_iter(d),
           "peak_rss_mb": r["peak_rss_mb"]}
    _save(out, name, res)
    return res


def stage1_same_time(out: str, arch: str, ref: str, seed: int, tag: str = "") -> dict:
    s1, s2 = _load(out, f"stage1_{arch}_s{seed}"), _load(out, f"stage2_{arch}_{ref}{tag}_s{seed}")
    if s1 is None or s2 is None:
        sys.exit("run the stage1 and stage2 rows first")
    iters = round(s1["iters"] + s2["iters"] * s2["s_per_iter"] / s1["s_per_iter"])
    return stage1(out, arch, iters, seed, name=f"stage1_same_time_{arch}_{ref}{tag}_s{seed}")


def latency_ms(opts: list[str], weights: str, phase1: bool, n: int = 40) -> float:
    sys.path.insert(0, REPO)
    import torch
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.data import DatasetCatalog
    from detectron2.data.detection_utils import read_image

    import scratchdet  # noqa: F401
    from scratchdet.config import load_config_file
    from scratchdet.engine import Trainer
    from scratchdet.engine.run.phases import phase1_config

    cfg = load_config_file(os.path.join(REPO, CONFIG), opts)
    cfg = phase1_config(cfg) if phase1 else cfg
    model = Trainer.build_model(cfg).eval()
    DetectionCheckpointer(model).load(weights)
    images = [read_image(d["file_name"], "BGR") for d in DatasetCatalog.get("shapes_val")[:n]]
    batches = [[{"image": torch.as_tensor(im.transpose(2, 0, 1).astype("float32")), "height": 128, "width": 128}]
               for im in images]
    with torch.no_grad():
        for b in batches[:5]:
            model(b)  # warm-up
        t0 = time.perf_counter()
        for b in batches:
            model(b)
    return (time.perf_counter() - t0) / len(batches) * 1000


def latency(out: str, arch: str, ref: str, seed: int) -> dict:
    s1 = latency_ms([*_arch_opts(arch), "MODEL.RETINANET.SCORE_THRESH_TEST", "0.05"],
                    f"{out}/stage1_{arch}_s{seed}/phase1/model_final.pth", True)
    s2 = latency_ms([*_arch_opts(arch), "SCRATCHDET.DEYO.REFERENCE_BOXES", ref],
                    f"{out}/stage2_{arch}_{ref}_s{seed}/phase2/model_final.pth", False)
    res = {"stage1_with_nms_ms": s1, "stage2_nms_free_ms": s2}
    _save(out, f"latency_{arch}_{ref}_s{seed}", res)
    return res


def report(out: str) -> None:
    rows = sorted(f[:-5] for f in os.listdir(os.path.join(out, "results")) if f.endswith(".json"))
    print("| row | iterations | box AP | AP50 | s/iter | peak RSS (MB) |\n|---|---|---|---|---|---|")
    for row in rows:
        r = _load(out, row)
        if "AP" in r:
            print(f"| {row} | {r['iters']} | {r['AP'][0]:.1f} | {r['AP'][1]:.1f} | {r['s_per_iter']:.3f} | {r['peak_rss_mb']:.0f} |")
        else:
            print(f"| {row} | " + ", ".join(f"{k} {v:.1f}" for k, v in r.items()) + " | | | | |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("row", choices=["stage1", "stage2", "stage1_same_time", "latency", "report"])
    ap.add_argument("--arch", default="RetinaNet", choices=["RetinaNet", "FCOS"], help="stage 1's detector")
    ap.add_argument("--ref", default="stage1", choices=["stage1", "encoder_head"], help="stage 2's reference boxes")
    ap.add_argument("--iters", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="output/bench_deyo")
    ap.add_argument("--tag", default="", help="(stage2, stage1_same_time) suffix of the row's name, for a variant given with --opts")
    ap.add_argument("--opts", nargs="*", default=[], help="(stage2) extra config overrides, KEY VALUE ...")
    a = ap.parse_args()
    if a.row == "stage1":
        stage1(a.out, a.arch, a.iters, a.seed)
    elif a.row == "stage2":
        stage2(a.out, a.arch, a.ref, a.iters, a.seed, a.opts, a.tag)
    elif a.row == "stage1_same_time":
        stage1_same_time(a.out, a.arch, a.ref, a.seed, a.tag)
    elif a.row == "latency":
        latency(a.out, a.arch, a.ref, a.seed)
    else:
        report(a.out)


if __name__ == "__main__":
    main()
