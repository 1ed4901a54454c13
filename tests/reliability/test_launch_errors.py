"""User errors in a --num-gpus 2 run (2 processes on CPU, gloo) and in a single process, run as a
user would (subprocess): exit code 2, the message printed once, no ProcessExitedException."""

import pytest

from tests.conftest import DEMO_CONFIG, TINY_OPTS, run_train_net

CASES = {
    "max_iter_zero": (["SOLVER.MAX_ITER", "0"], "SOLVER.MAX_ITER"),
    "batch_not_divisible": (["SOLVER.IMS_PER_BATCH", "3"], "SOLVER.IMS_PER_BATCH"),
    "eval_only_without_weights": (["--eval-only"], "MODEL.WEIGHTS"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_user_error_in_two_processes(case, tmp_path):
    opts, key = CASES[case]
    flags = [o for o in opts if o.startswith("--")]
    kv = [o for o in opts if not o.startswith("--")]
    proc = run_train_net(["--config-file", DEMO_CONFIG, "--num-gpus", "2", *flags, *TINY_OPTS, "SOLVER.IMS_PER_BATCH", "4",
                          "OUTPUT_DIR", str(tmp_path), *kv], check=False, timeout=300)
    err = proc.stderr
    assert proc.returncode == 2, err[-3000:]
    assert err.count("scratchdet: error: ") == 1, err[-3000:]
    first = next(line for line in err.splitlines() if line.startswith("scratchdet: error: "))
    assert key in first
    assert "ProcessExitedException" not in err and "Traceback" not in err


def test_user_error_in_one_process_is_one_line(tmp_path):
    proc = run_train_net(["--config-file", DEMO_CONFIG, *TINY_OPTS, "OUTPUT_DIR", str(tmp_path), "SOLVER.BASE_LR", "-1.0"],
                         check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("scratchdet: error: ") == 1 and "Traceback" not in proc.stderr
    assert "SOLVER.BASE_LR" in next(line for line in proc.stderr.splitlines() if line.startswith("scratchdet: error: "))
