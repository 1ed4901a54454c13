"""Shared fixtures: the embedded dataset lives in the repository's datasets/ folder (built once),
and tiny configs sized for 2 CPU cores."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("SCRATCHDET_SHAPES_ROOT", os.path.join(REPO, "datasets", "scratchdet_shapes"))

import scratchdet  # noqa: E402,F401  (registration)
from scratchdet.config import load_config_file  # noqa: E402

DEMO_CONFIG = os.path.join(REPO, "configs", "Demo", "mask_rcnn_R18_FPN_scratch_shapes.yaml")
# Overrides that make the demo model tiny: a few seconds per handful of iterations on 2 cores.
TINY_OPTS = [
    "INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MAX_SIZE_TRAIN", "128", "INPUT.MIN_SIZE_TEST", "96",
    "INPUT.MAX_SIZE_TEST", "128", "SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0",
    "MODEL.RPN.POST_NMS_TOPK_TRAIN", "64", "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE", "32",
    "SOLVER.WARMUP_ITERS", "2", "SCRATCHDET.VIS.NUM_IMAGES", "2",
]


@pytest.fixture
def tiny_cfg():
    def make(*opts):
        return load_config_file(DEMO_CONFIG, TINY_OPTS + list(opts))

    return make


def run_train_net(args, timeout=600, check=True):
    """Run train_net.py in a subprocess (as a user would); return the CompletedProcess."""
    # Threads: the parent's OMP_NUM_THREADS when set, else scratchdet's automatic choice (all free
    # cores when the suite runs alone, one beside a busy neighbour); no longer forced to 1.
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "train_net.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"train_net.py {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc
