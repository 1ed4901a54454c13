"""Intra-op threads and data loader workers of a CPU training that do not oversubscribe the cores.

torch's default is one intra-op (OpenMP) thread per physical core of the machine. Beside a busy
neighbour (another training, a test run) every parallel op then waits for the thread whose core
is taken, and a 2-core machine runs the step 2.6x slower instead of 2x. The choice here:

* the cores this process may run on: its CPU affinity (``os.sched_getaffinity``: taskset,
  cgroups/cpusets, SLURM), not the machine's count;
* ``OMP_NUM_THREADS`` when set is the user's choice and wins over the automatic one;
* the cores are split evenly between the processes of a ``--num-gpus N`` run on CPU;
* cores that other programs keep busy are taken away (``SCRATCHDET.CPU.CONSIDER_LOAD``): sampled
  once per process from /proc/stat over 0.2 s (this process's own CPU time subtracted), counting
  a core only when at least 75% busy. Not ``os.getloadavg``: its 1-minute average still holds the
  load of a run that just ended (ours, in a bench or a test), and it counts runnable threads, not
  cores in use;
* data loader workers are capped at the cores left for this process.

``SCRATCHDET.CPU.NUM_THREADS`` (N > 0) overrides all of it; -1 leaves torch's default.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from detectron2.config import CfgNode
from detectron2.utils import comm

logger = logging.getLogger(__name__)

# A core counts as taken by others when they keep it at least this busy during the sample.
BUSY_CORE_FRACTION = 0.75
SAMPLE_SECONDS = 0.2
_busy_cache: dict[tuple[int, ...], float] = {}


@dataclass(frozen=True)
class CpuChoice:
    threads: int | None  # None: torch's default left as it is
    workers: int
    cores: int  # cores this process may run on (affinity)
    busy_by_others: int  # of those, cores counted as taken by other programs
    source: str  # where the thread count came from


def allowed_cpus() -> list[int]:
    """The CPU ids this process may run on (its affinity), or all of the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def omp_threads_from_env(env: Mapping[str, str]) -> int | None:
    """OMP_NUM_THREADS as a positive int (its first level for a nested "4,2"), None if unset/invalid."""
    value = env.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _clock_ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100


_CLOCK_TICKS = _clock_ticks()


def _read_proc_stat() -> dict[int, tuple[int, int]]:
    """{cpu id: (busy jiffies, total jiffies)} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit():
                ticks = [int(x) for x in fields[:8]]  # user nice system idle iowait irq softirq steal
                out[int(name[3:])] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))
    return out


def busy_cores_of_others(cpus: list[int], seconds: float = SAMPLE_SECONDS,
                         read_stat: Callable[[], dict[int, tuple[int, int]]] = _read_proc_stat) -> float:
    """How many of ``cpus`` other programs keep busy, measured over ``seconds`` (0 when /proc/stat
    cannot be read). This process's own CPU time during the sample is subtracted."""
    try:
        a, own_a = read_stat(), os.times()
        time.sleep(seconds)
        b, own_b = read_stat(), os.times()
    except (OSError, ValueError):
        return 0.0
    busy = total = 0
    counted = 0
    for c in cpus:
        if c in a and c in b:
            busy += b[c][0] - a[c][0]
            total += b[c][1] - a[c][1]
            counted += 1
    if total <= 0:
        return 0.0
    # The sample's length in the same jiffies as the counters (not a wall clock, whose sub-tick
    # intervals would turn one tick of own CPU time into many cores).
    elapsed = total / counted / _CLOCK_TICKS
    own = (own_b.user + own_b.system - own_a.user - own_a.system) / elapsed
    return max(0.0, busy / total * counted - own)


def choose_cpu_threads(num_threads: int, workers: int, world_size: int = 1, consider_load: bool = True,
                       cap_workers: bool = True, env: Mapping[str, str] | None = None,
                       cpus: list[int] | None = None,
                       busy_by_others: Callable[[list[int]], float] = busy_cores_of_others) -> CpuChoice:
    """The threads and loader workers of one of ``world_size`` training processes (see module doc).
    ``num_threads``: SCRATCHDET.CPU.NUM_THREADS; ``workers``: DATALOADER.NUM_WORKERS."""
    env = os.environ if env is None else env
    cpus = allowed_cpus() if cpus is None else cpus
    cores = len(cpus)
    world_size = max(1, world_size)
    taken = 0
    omp = omp_threads_from_env(env)
    if num_threads > 0:
        threads, source = num_threads, "SCRATCHDET.CPU.NUM_THREADS"
    elif num_threads < 0:
        threads, source = None, "torch's default (SCRATCHDET.CPU.NUM_THREADS -1)"
    elif omp is not None:
        threads, source = omp, "OMP_NUM_THREADS"
    else:
        if consider_load:
            # At most all but one core: a machine that looks full still gets our one thread each.
            taken = min(cores - 1, int(busy_by_others(cpus) + 1 - BUSY_CORE_FRACTION))
        threads, source = max(1, (cores - taken) // world_size), "automatic"
    free_per_process = max(1, (cores - taken) // world_size)
    if cap_workers and workers > 0:
        workers = min(workers, free_per_process)
    return CpuChoice(threads, workers, cores, taken, source)


def _cached_busy(cpus: list[int]) -> float:
    # Once per process: phase 2 of a two-phase run reuses phase 1's sample rather than measuring
    # while phase 1's loader workers may still be exiting.
    key = tuple(cpus)
    if key not in _busy_cache:
        if comm.get_world_size() > 1:
            comm.synchronize()  # the other ranks wait (idle) while this one samples
        _busy_cache[key] = busy_cores_of_others(cpus)
    return _busy_cache[key]


def configure_cpu(cfg: CfgNode, world_size: int = 1) -> CfgNode:
    """On a CPU run (MODEL.DEVICE "cpu"): set torch's intra-op threads, log the choice, and return
    the config with DATALOADER.NUM_WORKERS capped (a copy when changed). Other devices: ``cfg``."""
    if cfg.MODEL.DEVICE != "cpu":
        return cfg
    c = cfg.SCRATCHDET.CPU
    choice = choose_cpu_threads(c.NUM_THREADS, cfg.DATALOADER.NUM_WORKERS, world_size, c.CONSIDER_LOAD,
                                c.CAP_WORKERS, busy_by_others=_cached_busy)
    if choice.threads is not None:
        torch.set_num_threads(choice.threads)
    busy = f", {choice.busy_by_others} kept busy by other programs" if choice.busy_by_others else ""
    logger.info(
        f"CPU: {choice.cores} cores allowed{busy}; {world_size} training process(es); "
        f"{torch.get_num_threads()} intra-op threads each ({choice.source}), {choice.workers} data loader "
        f"workers (DATALOADER.NUM_WORKERS {cfg.DATALOADER.NUM_WORKERS}). Override: SCRATCHDET.CPU.NUM_THREADS."
    )
    if choice.workers == cfg.DATALOADER.NUM_WORKERS:
        return cfg
    out = cfg.clone()
    out.defrost()
    out.DATALOADER.NUM_WORKERS = choice.workers
    if cfg.is_frozen():
        out.freeze()
    return out
