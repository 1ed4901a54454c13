"""``torch.compile`` of part of the trained model (SCRATCHDET.CPU.COMPILE), in place.

``nn.Module.compile`` (torch >= 2.2) only sets the module's ``_compiled_call_impl``: the module,
its parameters and its ``state_dict()`` keys stay the same (``torch.compile(module)`` would wrap
it in an ``OptimizedModule`` whose keys gain an ``_orig_mod.`` prefix), so the optimizer, DDP and
the checkpointer hold the same tensors and checkpoints load into an uncompiled model. A deep copy
drops the compiled call (``Module.__getstate__`` pops ``_compiled_call_impl``): the EMA's copy
(``AveragedModel``) runs eagerly, and it is made before the compile anyway.

Only the Trainer compiles: ``Trainer.build_model`` (``--eval-only``, the predictor, export) builds
an eager model. On CPU, inductor builds C++ kernels: without a compiler the run stops here with
one message rather than at its first step inside torch.
"""

from __future__ import annotations

import logging
import os
import shutil
import sysconfig

import torch

from ...config.errors import raise_config_errors

logger = logging.getLogger(__name__)


def inductor_cpu_missing() -> str:
    """What torch's inductor lacks here to build its C++ CPU kernels ("" when nothing)."""
    cxx = os.environ.get("CXX", "g++")  # inductor's own choice (torch._inductor.config.cpp.cxx)
    if shutil.which(cxx) is None:
        return f"a C++ compiler ({cxx}: install g++, or set CXX)"
    header = os.path.join(sysconfig.get_path("include"), "Python.h")
    if not os.path.isfile(header):
        return f"Python's headers ({header}: install python3-dev for this Python)"
    return ""


def compile_model(model: torch.nn.Module, target: str, device: str = "cpu") -> torch.nn.Module:
    """Compile ``model``'s submodule named ``target`` (SCRATCHDET.CPU.COMPILE, checked at set-up:
    "" or "backbone") in place; ``model`` is the unwrapped model (before DDP), on ``device``
    (MODEL.DEVICE). Returns ``model``."""
    if not target:
        return model
    part = getattr(model, target, None)
    if not isinstance(part, torch.nn.Module):
        raise_config_errors([f"SCRATCHDET.CPU.COMPILE={target!r}: this model ({type(model).__name__}) has no "
                             f"{target} to compile; use '' (off)."])
    missing = inductor_cpu_missing() if device == "cpu" else ""
    if missing:
        raise_config_errors([f"SCRATCHDET.CPU.COMPILE={target!r} on CPU needs {missing}, which this machine "
                             "lacks; or use '' (off)."])
    # dynamic=True: one graph for every image size. torch's default (dynamic=None) first compiles
    # for the first batch's exact size, then once more with dynamic sizes at the first other size.
    part.compile(dynamic=True)
    logger.info(f"SCRATCHDET.CPU.COMPILE: model.{target} compiled in place (torch.compile, dynamic shapes); "
                "the first training step and the first evaluation of the trained model compile it (slow).")
    return model
