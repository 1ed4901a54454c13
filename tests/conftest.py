"""Shared fixtures: the embedded dataset lives in the repository's datasets/ folder (built once),
and tiny configs sized for 2 CPU cores."""

import contextlib
import io
import logging
import os
import re
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
