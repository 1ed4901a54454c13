"""Shared fixtures and helpers: the embedded dataset lives in the repository's datasets/ folder
(built once), tiny configs sized for 2 CPU cores, and the helpers test modules share."""

import contextlib
import io
import itertools
import json
import logging
import os
import re
import subprocess
import sys

import cv2
import numpy as np
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
        # The cause on the first line: pytest's short summary (the end of a CI log) shows only that.
        raise AssertionError(f"train_net.py exited with {proc.returncode}: {_last_lines(proc.stderr, 1)}\n"
                             f"arguments: {' '.join(args)}\nthe end of its output:\n"
                             f"{_last_lines(proc.stdout, 10)}\n{_last_lines(proc.stderr, 30)}")
    return proc


def _last_lines(text: str, n: int) -> str:
    """The last ``n`` lines without colour codes: the error, not the coloured config dump that a CI
    log cut short would otherwise show instead of it."""
    lines = [line for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines() if line.strip()]
    return "\n".join(lines[-n:])


def run_cli(argv: list[str]) -> tuple[int, str]:
    """train_net.py's ``run`` on parsed ``argv`` in this process (faster than a subprocess);
    returns (exit code, stderr)."""
    from detectron2.engine import default_argument_parser

    import train_net

    args = default_argument_parser().parse_args(argv)
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err):
        try:
            train_net.run(args)
        except SystemExit as e:
            code = e.code
    return code, err.getvalue()


# ---------------------------------------------------------------- helpers shared by test modules
# (plain functions, imported `from tests.conftest import ...`; test modules import from nowhere else)

_unique_ids = itertools.count()


def unique(prefix: str) -> str:
    """A dataset name not yet in the catalog (the catalog is global to the test process)."""
    return f"{prefix}_{os.getpid()}_{next(_unique_ids)}"


def run_entry(out_dir, *opts, config=DEMO_CONFIG):
    """train_net.run in-process, as `python train_net.py --config-file <config> <opts>` does.
    Returns (exit code, first non-empty line of stderr, all of stderr)."""
    code, stderr = run_cli(["--config-file", config, *TINY_OPTS, "SOLVER.MAX_ITER", "2", "TEST.EVAL_PERIOD", "0",
                            "SCRATCHDET.VIS.NUM_IMAGES", "0", "OUTPUT_DIR", str(out_dir), *opts])
    # torch logs "No CUDA runtime is found" (glog format, once per process) when detectron2
    # collects the environment: not ours, not counted.
    text = "\n".join(line for line in stderr.splitlines() if not re.match(r"[WIE]\d{4} ", line))
    first = next((line for line in text.splitlines() if line.strip()), "")
    return code, first, text


# 2 iterations, a checkpoint after each, no evaluation data to wait for.
DEMO_TRAIN_OPTS = [*TINY_OPTS, "SOLVER.MAX_ITER", "2", "SOLVER.CHECKPOINT_PERIOD", "1", "SOLVER.STEPS", "()",
                   "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()", "SCRATCHDET.VIS.NUM_IMAGES", "0"]


def train_demo(out, *opts, resume=False):
    """The tiny demo training (DEMO_TRAIN_OPTS) in ``out`` through train_net.run; (exit code, stderr)."""
    return run_cli(["--config-file", DEMO_CONFIG, *(["--resume"] if resume else []), *DEMO_TRAIN_OPTS,
                    "OUTPUT_DIR", str(out), *opts])


def assert_user_error(code: int, err: str, *names: str) -> str:
    """Exit code 2 and the message printed once, its first line naming every one of ``names``;
    no stack trace (torch's own one-line warnings may precede it)."""
    assert code == 2, err
    assert err.count("scratchdet: error: ") == 1, err
    first = next(line for line in err.splitlines() if line.startswith("scratchdet: error: "))
    for name in names:
        assert name in first, f"{name!r} not on the first line: {first}"
    assert "Traceback" not in err
    return first


def no_checkpoint(out_dir) -> bool:
    """Whether ``out_dir`` holds no checkpoint (or does not exist)."""
    return not any(f.endswith((".pth", ".pkl")) or f == "last_checkpoint" for f in os.listdir(out_dir)) \
        if os.path.isdir(out_dir) else True


def coco_opts(json_file, img_dir, name=None) -> list[str]:
    """Opts that register a one-class COCO json as the training set (SCRATCHDET.DATA.COCO)."""
    name = name or unique("rel_coco")
    return ["SCRATCHDET.DATA.COCO", f"[['{name}', '{json_file}', '{img_dir}']]", "DATASETS.TRAIN", f"('{name}',)",
            "DATASETS.TEST", "()", "MODEL.ROI_HEADS.NUM_CLASSES", "1"]


def write_coco(tmp_path, name="d", anns=None, cats=None, n_images=2, size=(64, 80)):
    """A COCO json of grey images (default: one box of category 7, categories 7 and 9); returns
    (json_file, image_root)."""
    img_dir = tmp_path / f"{name}_img"
    img_dir.mkdir(exist_ok=True)
    images = []
    for i in range(n_images):
        cv2.imwrite(str(img_dir / f"{i}.png"), np.full((*size, 3), 100, np.uint8))
        images.append({"id": i + 1, "file_name": f"{i}.png", "height": size[0], "width": size[1]})
    if anns is None:
        anns = [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [10, 10, 20, 20], "iscrowd": 0, "area": 400}]
    cats = cats or [{"id": 7, "name": "thing"}, {"id": 9, "name": "other"}]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return str(path), str(img_dir)


_USER_COCO_COLOURS = [(230, 40, 40), (40, 200, 40), (40, 40, 230), (220, 220, 40)]


def write_user_coco(root, name: str, cat_ids: list[int], n_images: int = 8, size: tuple[int, int] = (80, 96),
                    boxes_per_image: int = 3, seed: int = 0) -> tuple[str, str]:
    """A user's own COCO json: 1-based or non-contiguous category ids, coloured boxes on a grey
    background (learnable in a few iterations). Writes ``root/name.json`` and ``root/name/*.png``;
    returns (json_file, image_root)."""
    rng = np.random.default_rng(seed)
    img_dir = root / name
    img_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    h, w = size
    for i in range(n_images):
        img = np.full((h, w, 3), 128, np.uint8)
        for _ in range(boxes_per_image):
            k = int(rng.integers(len(cat_ids)))
            bw, bh = (int(v) for v in rng.integers(14, 30, 2))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            img[y:y + bh, x:x + bw] = _USER_COCO_COLOURS[k % len(_USER_COCO_COLOURS)]
            poly = [x, y, x + bw, y, x + bw, y + bh, x, y + bh]
            anns.append({"id": len(anns) + 1, "image_id": 100 + i, "category_id": cat_ids[k], "iscrowd": 0,
                         "bbox": [x, y, bw, bh], "area": bw * bh, "segmentation": [poly]})
        cv2.imwrite(str(img_dir / f"{i}.png"), img[:, :, ::-1])
        images.append({"id": 100 + i, "file_name": f"{i}.png", "height": h, "width": w})
    cats = [{"id": c, "name": f"class{c}"} for c in cat_ids]
    json_file = root / f"{name}.json"
    json_file.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return str(json_file), str(img_dir)


@pytest.fixture
def scratchdet_warnings():
    """Warnings logged under "scratchdet" (its logger stops propagating to the root logger, which
    pytest's caplog listens on, once detectron2's setup_logger has run in this process)."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = Keep(logging.WARNING)
    logging.getLogger("scratchdet").addHandler(handler)
    yield records
    logging.getLogger("scratchdet").removeHandler(handler)


@pytest.fixture(autouse=True)
def _drop_log_handlers_on_closed_streams():
    """An in-process train_net run attaches detectron2's console handler to the sys.stdout of the
    moment, which is a test's capture stream; once that test ends the stream is closed and every
    later log line would print a "Logging error" traceback (and swallow pytest's summary)."""
    yield
    for name in [*logging.root.manager.loggerDict, ""]:
        logger = logging.getLogger(name)
        for handler in list(getattr(logger, "handlers", [])):
            if getattr(getattr(handler, "stream", None), "closed", False):
                logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def _scratchdet_logs_reach_caplog(monkeypatch):
    """detectron2's setup_logger(name="scratchdet"), run by any earlier in-process train_net run,
    stops "scratchdet" from propagating to the root logger, where caplog listens: a test that
    checks a warning would then pass or fail depending on the tests run before it."""
    monkeypatch.setattr(logging.getLogger("scratchdet"), "propagate", True)
