"""The CPU thread / loader-worker choice: affinity, OMP_NUM_THREADS, busy neighbours, processes
sharing the cores, the config override, and what a CPU training process is then set to."""

import logging

import pytest
import torch

from scratchdet.engine.train import cpu_threads
from scratchdet.engine.train.cpu_threads import busy_cores_of_others, choose_cpu_threads, configure_cpu, omp_threads_from_env


def idle(cpus):
    return 0.0


def one_busy_neighbour(cpus):
    return 1.0


def choose(num_threads=0, workers=2, world_size=1, env=None, cpus=(0, 1), busy=idle, **kw):
    return choose_cpu_threads(num_threads, workers, world_size, env={} if env is None else env,
                              cpus=list(cpus), busy_by_others=busy, **kw)


def test_alone_uses_every_allowed_core():
    c = choose()
    assert (c.threads, c.workers, c.cores, c.source) == (2, 2, 2, "automatic")


def test_affinity_limits_threads_and_workers(monkeypatch):
    monkeypatch.setattr(cpu_threads.os, "sched_getaffinity", lambda pid: {3}, raising=False)
    c = choose_cpu_threads(0, 4, env={}, busy_by_others=idle)
    assert (c.cores, c.threads, c.workers) == (1, 1, 1)


def test_a_busy_neighbour_takes_a_core():
    c = choose(busy=one_busy_neighbour)
    assert (c.threads, c.workers, c.busy_by_others) == (1, 1, 1)


def test_a_short_burst_does_not_count_as_a_taken_core():
    c = choose(busy=lambda cpus: 0.6)
    assert (c.threads, c.busy_by_others) == (2, 0)


def test_a_full_machine_still_gets_one_thread():
    c = choose(busy=lambda cpus: 5.0)
    assert (c.threads, c.workers, c.busy_by_others) == (1, 1, 1)


def test_processes_of_one_run_split_the_cores():
    c = choose(world_size=2, cpus=range(4), workers=4)
    assert (c.threads, c.workers) == (2, 2)
    c = choose(world_size=2, cpus=range(2))
    assert (c.threads, c.workers) == (1, 1)


def test_omp_num_threads_is_the_users_choice_and_skips_the_load_sample():
    def fail(cpus):
        raise AssertionError("load sampled although OMP_NUM_THREADS was set")

    c = choose(env={"OMP_NUM_THREADS": "3"}, busy=fail)
    assert (c.threads, c.source) == (3, "OMP_NUM_THREADS")


def test_config_key_wins_over_omp_and_minus_one_leaves_torch_default():
    assert choose(num_threads=4, env={"OMP_NUM_THREADS": "1"}).threads == 4
    c = choose(num_threads=-1, env={"OMP_NUM_THREADS": "1"})
    assert c.threads is None and c.workers == 2


def test_worker_cap_can_be_disabled_and_zero_workers_stay_zero():
    assert choose(busy=one_busy_neighbour, cap_workers=False).workers == 2
    assert choose(workers=0).workers == 0


@pytest.mark.parametrize("value,expected", [("4", 4), ("4,2", 4), (" 2 ", 2), ("0", None), ("abc", None), ("", None)])
def test_omp_num_threads_parsing(value, expected):
    assert omp_threads_from_env({"OMP_NUM_THREADS": value}) == expected


def test_busy_cores_from_proc_stat_without_own_use():
    # cpu0 fully busy during the sample, cpu1 idle, cpu2 (not ours) busy.
    snaps = iter([{0: (100, 200), 1: (50, 200), 2: (0, 100)}, {0: (120, 220), 1: (50, 220), 2: (20, 120)}])
    assert busy_cores_of_others([0, 1], seconds=0.0, read_stat=lambda: next(snaps)) == pytest.approx(1.0, abs=0.2)


def test_unreadable_proc_stat_means_no_load():
    def missing():
        raise OSError("no /proc")

    assert busy_cores_of_others([0, 1], seconds=0.0, read_stat=missing) == 0.0


@pytest.fixture
def keep_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_configure_cpu_sets_threads_caps_workers_and_logs(tiny_cfg, monkeypatch, caplog, keep_torch_threads):
    monkeypatch.setattr(cpu_threads.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "_cached_busy", idle)
    # detectron2's setup_logger (run by any earlier in-process training) stops "scratchdet" from
    # propagating to the root logger, where caplog listens.
    monkeypatch.setattr(logging.getLogger("scratchdet"), "propagate", True)
    cfg = tiny_cfg("DATALOADER.NUM_WORKERS", "3")
    cfg.freeze()
    with caplog.at_level(logging.INFO, logger="scratchdet.engine.train.cpu_threads"):
        out = configure_cpu(cfg, world_size=1)
    assert torch.get_num_threads() == 1
    assert out.DATALOADER.NUM_WORKERS == 1 and out.is_frozen()
    assert cfg.DATALOADER.NUM_WORKERS == 3  # the caller's config is not changed
    assert "1 intra-op threads" in caplog.text and "1 data loader workers" in caplog.text


def test_configure_cpu_override_and_other_devices(tiny_cfg, keep_torch_threads):
    out = configure_cpu(tiny_cfg("SCRATCHDET.CPU.NUM_THREADS", "3", "DATALOADER.NUM_WORKERS", "1"))
    assert torch.get_num_threads() == 3 and out.DATALOADER.NUM_WORKERS == 1
    gpu = tiny_cfg("MODEL.DEVICE", "cuda", "DATALOADER.NUM_WORKERS", "8")
    assert configure_cpu(gpu) is gpu


def test_eval_only_makes_the_same_thread_choice(tmp_path, monkeypatch):
    """--eval-only (engine.evaluate) sets the threads from SCRATCHDET.CPU as training does."""
    import torch
    from detectron2.modeling import build_model

    from scratchdet.checkpoint import ScratchCheckpointer
    from scratchdet.config import load_config_file
    from scratchdet.engine.run import runner
    from tests.conftest import DEMO_CONFIG, TINY_OPTS

    cfg = load_config_file(DEMO_CONFIG, [*TINY_OPTS, "SCRATCHDET.CPU.NUM_THREADS", "1", "DATASETS.TEST", "()",
                                         "OUTPUT_DIR", str(tmp_path)])
    ScratchCheckpointer(build_model(cfg), str(tmp_path)).save("model_final")
    cfg.defrost()
    cfg.MODEL.WEIGHTS = str(tmp_path / "model_final.pth")
    cfg.freeze()
    seen = []
    monkeypatch.setattr(runner, "configure_cpu", lambda c, w: seen.append(c.SCRATCHDET.CPU.NUM_THREADS) or configure_cpu(c, w))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        runner.evaluate(cfg, resume=False)
        assert seen == [1] and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
