"""Two-phase training in one command, and --resume after an interruption inside phase 1, at the
boundary and inside phase 2 (the process is killed, as a user's job would be)."""

import json
import os
import signal
import subprocess
import sys
import time

import torch

from tests.conftest import REPO, run_train_net

CONFIG = os.path.join(REPO, "projects", "DirectPretrain", "configs", "faster_rcnn_R18_FPN_direct_shapes_cpu.yaml")
TINY = ["SOLVER.IMS_PER_BATCH", "2", "SCRATCHDET.PHASE1.SOLVER.IMS_PER_BATCH", "4", "DATALOADER.NUM_WORKERS", "0",
        "INPUT.MIN_SIZE_TRAIN", "(96,)", "INPUT.MIN_SIZE_TEST", "96", "SCRATCHDET.VIS.NUM_IMAGES", "1",
        "SOLVER.WARMUP_ITERS", "2", "SCRATCHDET.PHASE1.SOLVER.WARMUP_ITERS", "2", "SCRATCHDET.HANDOVER.PRECISE_BN_ITERS", "2",
        "SOLVER.CHECKPOINT_PERIOD", "1", "SCRATCHDET.PHASE1.SOLVER.CHECKPOINT_PERIOD", "1", "SOLVER.STEPS", "()"]


def _ckpt(path):
    return torch.load(path, map_location="cpu", weights_only=False)


def _run_until(args, marker, timeout=300):
    """Start train_net.py and kill it (SIGKILL) once ``marker`` exists."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, os.path.join(REPO, "train_net.py"), *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    try:
        while not os.path.exists(marker):
            assert proc.poll() is None, f"train_net.py ended before {marker} appeared"
            assert time.time() - t0 < timeout
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_one_command_runs_both_phases_and_hands_over(tmp_path):
    out = str(tmp_path)
    run_train_net(["--config-file", CONFIG, *TINY, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "3", "SOLVER.MAX_ITER", "3",
                   "OUTPUT_DIR", out])
    p1, p2 = _ckpt(f"{out}/phase1/model_final.pth"), _ckpt(f"{out}/phase2/model_final.pth")
    assert p1["iteration"] == 2 and p2["iteration"] == 2
    report = json.load(open(f"{out}/phase2/handover.json"))
    assert len(report["copied"]) > 100 and not report["reinitialized"]
    # each phase had its own data: low-res square crops in phase 1, the usual resize in phase 2
    c1 = open(f"{out}/phase1/config.yaml").read()
    c2 = open(f"{out}/phase2/config.yaml").read()
    assert "TRAIN_MAPPER: LowResPretrainMapper" in c1 and "TRAIN_MAPPER: DatasetMapper" in c2
    # phase 2 froze BN statistics re-estimated at its resolution: they differ from phase 1's
    key = "backbone.bottom_up.res2.0.conv1.norm.running_mean"
    assert not torch.allclose(p1["model"][key], p2["model"][key])
    # the combined metrics tell the phase of every line, phase 2's iterations continue phase 1's
    rows = [json.loads(line) for line in open(f"{out}/metrics.json")]
    phases = [r["phase"] for r in rows]
    assert phases[0] == "pretrain" and phases[-1] == "finetune" and phases == sorted(phases, key=["pretrain", "finetune"].index)
    its = [r["iteration"] for r in rows]
    assert its == sorted(its)
    for f in ("loss_curve.png", "model_final.pth", "predictions.png", "final_results.json"):
        assert os.path.isfile(os.path.join(out, f)), f


def test_resume_inside_phase1_at_boundary_and_inside_phase2(tmp_path):
    out = str(tmp_path)
    base = ["--config-file", CONFIG]
    opts = [*TINY, "OUTPUT_DIR", out]
    # 1) killed inside phase 1 (a long phase 1 is asked for; killed after its 2nd checkpoint)
    _run_until([*base, *opts, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "500", "SOLVER.MAX_ITER", "4"],
               f"{out}/phase1/model_0000001.pth")
    assert not os.path.exists(f"{out}/phase1/model_final.pth") and not os.path.exists(f"{out}/phase2")
    # 2) resumed: phase 1 continues from its checkpoint up to 4 iterations, then stops (phase 1 only)
    run_train_net([*base, "--resume", *opts, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "4", "SCRATCHDET.RUN_PHASES", "pretrain"])
    p1 = _ckpt(f"{out}/phase1/model_final.pth")
    assert p1["iteration"] == 3
    # the phase-1 schedule continued (not restarted): one LR step per iteration in total
    assert p1["trainer"]["hooks"]["LRScheduler"]["last_epoch"] == 4
    assert not os.path.exists(f"{out}/phase2")
    # 3) at the boundary: --resume skips the finished phase 1 and starts phase 2 with the hand-over;
    #    killed inside phase 2
    _run_until([*base, "--resume", *opts, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "4", "SOLVER.MAX_ITER", "500"],
               f"{out}/phase2/model_0000001.pth")
    assert os.path.isfile(f"{out}/phase2/handover.json")
    handover_time = os.path.getmtime(f"{out}/phase2/handover.json")
    assert _ckpt(f"{out}/phase1/model_final.pth")["iteration"] == 3  # phase 1 was not run again
    # 4) resumed inside phase 2: continues from phase 2's own checkpoint, no second hand-over
    run_train_net([*base, "--resume", *opts, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "4", "SOLVER.MAX_ITER", "5"])
    p2 = _ckpt(f"{out}/phase2/model_final.pth")
    assert p2["iteration"] == 4
    assert p2["trainer"]["hooks"]["LRScheduler"]["last_epoch"] == 5
    assert os.path.getmtime(f"{out}/phase2/handover.json") == handover_time
    assert "TRAIN_MAPPER: DatasetMapper" in open(f"{out}/phase2/config.yaml").read()
    rows = [json.loads(line) for line in open(f"{out}/metrics.json")]
    assert {r["phase"] for r in rows} == {"pretrain", "finetune"}


def test_phase2_alone_from_a_phase1_checkpoint_and_eval_only_on_either(tmp_path):
    out = str(tmp_path / "a")
    run_train_net(["--config-file", CONFIG, *TINY, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "2",
                   "SCRATCHDET.RUN_PHASES", "pretrain", "OUTPUT_DIR", out])
    p1 = f"{out}/phase1/model_final.pth"
    out_b = str(tmp_path / "b")
    run_train_net(["--config-file", CONFIG, *TINY, "SCRATCHDET.RUN_PHASES", "finetune", "MODEL.WEIGHTS", p1,
                   "SOLVER.MAX_ITER", "2", "OUTPUT_DIR", out_b])
    assert json.load(open(f"{out_b}/phase2/handover.json"))["copied"]
    assert not os.path.exists(f"{out_b}/phase1")
    for weights, phase in ((p1, "pretrain"), (f"{out_b}/phase2/model_final.pth", "all")):
        ev = str(tmp_path / f"eval{phase}")
        run_train_net(["--config-file", CONFIG, "--eval-only", *TINY, "MODEL.WEIGHTS", weights,
                       "SCRATCHDET.RUN_PHASES", phase, "OUTPUT_DIR", ev])
        assert "AP" in json.load(open(f"{ev}/eval_results.json"))["bbox"]
