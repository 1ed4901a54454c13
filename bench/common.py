"""Running train_net.py for benchmarks: wall-clock, peak memory (RSS) of the process, metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Runs train_net.py in this process and prints its peak resident memory at the end.
_RUNNER = (
    "import json, resource, runpy, sys\n"
    "sys.argv = ['train_net.py'] + sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_path('train_net.py', run_name='__main__')\n"
    "finally:\n"
    "    print('PEAK_RSS_MB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
)


# Config options that put a bench on another embedded dataset (on top of its shapes config):
# the nuclei tiles of configs/OwnData (12 training tiles of 128 px, one class, nuclei 5-27 px).
# Anchor sizes are the bench's own (their number depends on the detector's levels).
NUCLEI = ["SCRATCHDET.DATA.COCO", "[['nuclei_train', 'datasets/nuclei/train.json', 'datasets/nuclei/train'], "
          "['nuclei_val', 'datasets/nuclei/val.json', 'datasets/nuclei/val']]",
          "DATASETS.TEST", "('nuclei_val',)", "MODEL.ROI_HEADS.NUM_CLASSES", "1"]


# Benches run alone: the thread count must not depend on what else ran at the second a run
# started (a test finishing, the previous run's loader workers exiting), or one run of a row
# takes twice as long as the next. bench/cpu_neighbour.py measures the automatic choice itself.
FIXED_THREADS = ["SCRATCHDET.CPU.CONSIDER_LOAD", "False"]


def run(args: list[str]) -> dict:
    """Run ``train_net.py args``; return wall-clock seconds and peak RSS (MB) of the process."""
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", _RUNNER, *args, *FIXED_THREADS], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"train_net.py {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    peak = [float(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("PEAK_RSS_MB")]
    return {"wall_s": wall, "peak_rss_mb": peak[-1] if peak else float("nan")}


def metrics(output_dir: str) -> list[dict]:
    with open(os.path.join(output_dir, "metrics.json")) as f:
        return [json.loads(line) for line in f if line.strip()]


def seconds_per_iter(output_dir: str) -> float:
    """Median training time per iteration logged by detectron2 (its IterationTimer skips warm-up)."""
    times = [m["time"] for m in metrics(output_dir) if "time" in m]
    return sorted(times)[len(times) // 2]


def final_ap(output_dir: str, task: str = "bbox") -> tuple[float, float]:
    with open(os.path.join(output_dir, "final_results.json")) as f:
        res = json.load(f)
    return res[task]["AP"], res[task]["AP50"]


def equal_time_iters(budget_s: float, s_per_iter_main: float, s_per_iter_pre: float,
                     pretrain_share: float) -> tuple[int, tuple[int, int]]:
    """Iterations for (a) the main training alone and (b) pre-training + main training, both
    taking ``budget_s`` seconds of training (b spends ``pretrain_share`` of it pre-training)."""
    it_a = max(1, round(budget_s / s_per_iter_main))
    it_pre = max(1, round(budget_s * pretrain_share / s_per_iter_pre))
    it_main = max(1, round(budget_s * (1 - pretrain_share) / s_per_iter_main))
    return it_a, (it_pre, it_main)


def save_row(path: str, res: dict) -> None:
    """Store one benchmark row (one invocation) as json and print it."""
    with open(path, "w") as f:
        json.dump(res, f)
    print(json.dumps(res))


def load_rows(pattern: str) -> list[dict]:
    """The rows stored by :func:`save_row` whose files match ``pattern`` (glob), sorted by path."""
    import glob

    return [json.load(open(p)) for p in sorted(glob.glob(pattern))]
