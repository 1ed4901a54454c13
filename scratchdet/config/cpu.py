"""Config keys of CPU thread and loader-worker choice (scratchdet.engine.train.cpu_threads)."""

from detectron2.config import CfgNode as CN


def add_cpu_config(cfg: CN) -> None:
    """Add SCRATCHDET.CPU (in place). Only read when MODEL.DEVICE is "cpu"."""
    _C = cfg
    _C.SCRATCHDET.CPU = CN()
    # Intra-op threads of each training process (torch.set_num_threads). 0 = automatic: the cores
    # this process may run on (its CPU affinity; OMP_NUM_THREADS when set wins), divided between
    # the processes of a --num-gpus N run, minus the cores other programs keep busy (CONSIDER_LOAD).
    # N > 0 = exactly N. -1 = leave torch's own default (one thread per physical core), as before
    # this key existed.
    _C.SCRATCHDET.CPU.NUM_THREADS = 0
    # Count cores that other programs keep busy (sampled from /proc/stat for 0.2 s at start-up,
    # this process's own use subtracted) as taken. Only cores at least 75% busy count, so that a
    # short burst of a neighbour does not cost a whole training a thread.
    _C.SCRATCHDET.CPU.CONSIDER_LOAD = True
    # Cap DATALOADER.NUM_WORKERS at the cores this process may use (never below 1 when the config
    # asks for workers): more loader processes than cores only compete with the model's threads.
    _C.SCRATCHDET.CPU.CAP_WORKERS = True
    # Training steps under torch.autocast("cpu", bfloat16) (detectron2's SOLVER.AMP is CUDA-only):
    # convolutions and matrix products in bfloat16, weights and optimizer in float32. Whether it is
    # faster depends on the CPU's bfloat16 support: measure with bench/cpu_minute.py first.
    _C.SCRATCHDET.CPU.AUTOCAST_BF16 = False
    # Keep the model's weights (and so its convolutions' activations) in channels-last memory order.
    _C.SCRATCHDET.CPU.CHANNELS_LAST = False
