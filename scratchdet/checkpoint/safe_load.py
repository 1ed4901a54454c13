"""Reading a checkpoint file without running code from it.

``torch.load(..., weights_only=True)`` unpickles tensors, containers and numbers only; the few
other types our own checkpoints hold (numpy scalars and arrays written by hooks and older
scratchdet versions) are allow-listed for that one call. A file that needs anything else, and
any ``.pkl`` file (detectron2 and Detectron model-zoo files are plain pickles, which run code
when read), is refused unless ``SCRATCHDET.CHECKPOINT.ALLOW_PICKLE`` is set for a file the user
trusts.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np
import torch

from .errors import CheckpointError

ALLOW_PICKLE_KEY = "SCRATCHDET.CHECKPOINT.ALLOW_PICKLE"
# numpy objects pickled in our own checkpoints (hook state, metrics) and model-zoo .pth files.
# (numpy 2 moved numpy.core to numpy._core; files written with numpy 1 name the old module.)
_multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
SAFE_GLOBALS: list = [np.dtype, np.ndarray, _multiarray._reconstruct, _multiarray.scalar]
SAFE_GLOBALS += [(_multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
                 (_multiarray.scalar, "numpy.core.multiarray.scalar")]
SAFE_GLOBALS += [type(np.dtype(t)) for t in ("float64", "float32", "float16", "int64", "int32", "uint8", "bool")]


def refuse_pickle(path: str, why: str) -> CheckpointError:
    return CheckpointError(
        f"Refusing to load checkpoint {path}: {why} Reading it would run whatever code the file holds. "
        f"If you trust this file, set {ALLOW_PICKLE_KEY} True to load it as a legacy pickle."
    )


def load_checkpoint_file(path: str, allow_pickle: bool = False) -> Any:
    """The object saved in ``path`` (a local file), read safely unless ``allow_pickle``.

    Raises :class:`CheckpointError` with one line naming the file for a file that is not a
    checkpoint (empty, truncated, text, random bytes, a directory) or that needs code to be read.
    """
    if os.path.isdir(path):
        raise CheckpointError(f"Checkpoint {path} is a directory, not a file: give the .pth file in it "
                              "(e.g. model_final.pth).")
    if not os.path.isfile(path):
        raise CheckpointError(f"Checkpoint not found: {path}.")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"Checkpoint {path} is empty (0 bytes): the save was interrupted or the file "
                              "is not a checkpoint; pick another one.")
    if path.endswith((".pkl", ".pyth")):
        if not allow_pickle:
            raise refuse_pickle(path, "a .pkl/.pyth file is a plain Python pickle.")
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    if allow_pickle:
        return torch.load(path, map_location="cpu", weights_only=False)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # "Unsupported global": the file names a class or function to call, which is how a pickle
        # runs code. Other refusals (an unknown opcode, ...) come from bytes that are no pickle at all.
        if "Unsupported global" in str(e):
            found = str(e).split("Unsupported global:", 1)[-1].split(".", 1)[0].strip()
            detail = f" (it holds {found})" if found else ""
            raise refuse_pickle(path, f"it holds objects other than tensors and numbers{detail}.") from None
        raise _not_a_checkpoint(path, e) from None
    except (RuntimeError, EOFError, OSError, ValueError, UnicodeDecodeError) as e:
        raise _not_a_checkpoint(path, e) from None


def _not_a_checkpoint(path: str, err: Exception) -> CheckpointError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return CheckpointError(f"Cannot read checkpoint {path}: it is truncated or not a PyTorch checkpoint "
                           f"({first[:120]}); pick another one (MODEL.WEIGHTS).")
