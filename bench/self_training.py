#!/usr/bin/env python
"""Self-training on the embedded shapes data with 10% of the training images labelled: the
teacher's AP (trained on the 10%), the student's AP (10% labels + pseudo-labels on the other
90%), and the same detector trained on the 10% alone for the teacher's + student's iterations.
One row and seed per invocation; results stored under --out; the table printed from them:

    .venv/bin/python bench/self_training.py run --row selftrain --seed 0 --out output/bench_self_training
    .venv/bin/python bench/self_training.py run --row labelled_only --seed 0 --out output/bench_self_training
    .venv/bin/python bench/self_training.py table --out output/bench_self_training

--data nuclei: the nuclei tiles (datasets/nuclei) with a third of the 12 training tiles labelled
(4 tiles, 38 nuclei) and the other 8 given unlabelled.
"""

from __future__ import annotations

import argparse
import json
import statistics

from common import NUCLEI, final_ap, load_rows, run, save_row

CONFIG = "projects/SelfTraining/configs/self_training_faster_rcnn_R18_FPN_shapes10_cpu.yaml"
# The split's second part (its labels never read) is the unlabelled pool. Nuclei are 5-27 px:
# anchors one octave smaller than the shapes' (five levels).
DATA = {
    "shapes": {"opts": [], "labelled": "10% labels"},
    "nuclei": {"opts": [*NUCLEI, "SCRATCHDET.DATA.SPLIT", "[['nuclei_train', 'nuclei_l33', 'nuclei_u67', 0.67, 0]]",
                        "DATASETS.TRAIN", "('nuclei_l33',)", "SCRATCHDET.SELF_TRAINING.UNLABELLED", "['nuclei_u67']",
                        "MODEL.ANCHOR_GENERATOR.SIZES", "[[8], [16], [32], [64], [128]]"],
               "labelled": "4 of 12 tiles labelled"},
}
COMMON = ["SOLVER.CHECKPOINT_PERIOD", "100000", "SCRATCHDET.VIS.NUM_IMAGES", "0"]


def run_row(out: str, row: str, seed: int, teacher_iters: int, student_iters: int, data: str = "shapes") -> None:
    d = f"{out}/{row}_s{seed}"
    opts = [*COMMON, *DATA[data]["opts"], "SEED", str(seed), "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", str(teacher_iters),
            "SCRATCHDET.PHASE1.SOLVER.STEPS", f"({int(teacher_iters * 0.8)},)"]
    if row == "selftrain":
        r = run(["--config-file", CONFIG, *opts, "SOLVER.MAX_ITER", str(student_iters),
                 "SOLVER.STEPS", f"({int(student_iters * 0.8)},)", "OUTPUT_DIR", d])
        res = {"teacher": final_ap(f"{d}/phase1"), "student": final_ap(f"{d}/phase2")}
        with open(f"{d}/pseudo_labels_round1.json") as f:
            res["pseudo_boxes"] = len(json.load(f)["annotations"])
    else:  # the student's detector and augmentation, 10% labels only, for the same total iterations
        it = teacher_iters + student_iters
        r = run(["--config-file", CONFIG, *opts, "SCRATCHDET.PHASE1.ENABLED", "False",
                 "SCRATCHDET.SELF_TRAINING.ENABLED", "False", "SOLVER.MAX_ITER", str(it),
                 "SOLVER.STEPS", f"({int(it * 0.8)},)", "OUTPUT_DIR", d])
        res = {"labelled_only": final_ap(d)}
    res.update(row=row, seed=seed, data=data, wall_s=r["wall_s"], iters=[teacher_iters, student_iters])
    save_row(f"{d}.json", res)


def table(out: str) -> None:
    results = load_rows(f"{out}/*_s*.json")
    lab = DATA[results[0].get("data", "shapes")]["labelled"] if results else ""
    print("| model | seeds | box AP (mean ± spread) | AP50 | wall-clock of the run (s) |\n|---|---|---|---|---|")
    for key, label in (("teacher", f"teacher ({lab})"), ("student", f"student ({lab} + pseudo-labels)"),
                       ("labelled_only", f"{lab} only, teacher + student iterations")):
        rs = [r for r in results if key in r]
        if rs:
            aps = [r[key][0] for r in rs]
            print(f"| {label} | {len(rs)} | {statistics.mean(aps):.1f} ± {(max(aps) - min(aps)) / 2:.1f} | "
                  f"{statistics.mean(r[key][1] for r in rs):.1f} | {statistics.mean(r['wall_s'] for r in rs):.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["run", "table"])
    ap.add_argument("--row", choices=["selftrain", "labelled_only"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--teacher-iters", type=int, default=300)
    ap.add_argument("--student-iters", type=int, default=300)
    ap.add_argument("--data", choices=list(DATA), default="shapes", help="embedded dataset of the rows")
    ap.add_argument("--out", default="output/bench_self_training")
    args = ap.parse_args()
    if args.step == "run":
        run_row(args.out, args.row, args.seed, args.teacher_iters, args.student_iters, args.data)
    else:
        table(args.out)


if __name__ == "__main__":
    main()
