"""Config keys of CPU thread and loader-worker choice (scratchdet.engine.train.cpu_threads) and of
the CPU speed options (cpu_autocast, channels-last, compile: bench/cpu_minute.py measures them)."""

from detectron2.config import CfgNode as CN

# The values of SCRATCHDET.CPU.COMPILE: "" (off) or the model's submodule to compile.
COMPILE_PARTS = ("", "backbone")


def add_cpu_config(cfg: CN) -> None:
    """Add SCRATCHDET.CPU (in place). Only read when MODEL.DEVICE is "cpu", except CHANNELS_LAST
    and COMPILE, which apply on any device."""
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
    # torch.compile (inductor: fused C++ kernels on CPU, built with the machine's C++ compiler, $CXX
    # or g++) of part of the trained model, to make each step cheaper. "" = off; "backbone" =
    # model.backbone (the ResNet and its FPN, where most of a step's convolutions are; the heads'
    # per-image, data-dependent code would only break the graph). Compiled in place
    # (nn.Module.compile): the state_dict keys do not change, checkpoints load into an uncompiled
    # model; the EMA's copy and --eval-only / predict / export run eagerly. Costs compile time the
    # step times do not show (the first training step compiles forward and backward, tens of
    # seconds to minutes on 2 cores; the first evaluation of the trained model compiles its eval
    # graph; torch caches kernels in /tmp/torchinductor_<user> for the next runs). Compiled with
    # dynamic shapes (dynamic=True): one graph for every image size, where torch's default would
    # compile for the first batch's exact size and again at the first other one (multi-scale
    # INPUT.MIN_SIZE_TRAIN and aspect ratios give batches of many padded sizes). Works on CUDA too;
    # kept here with the options bench/cpu_minute.py (--option compile) measures it against.
    _C.SCRATCHDET.CPU.COMPILE = ""
