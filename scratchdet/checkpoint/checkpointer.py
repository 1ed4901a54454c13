"""detectron2's DetectionCheckpointer with atomic saves and a clear error for a checkpoint that
belongs to another model."""

from __future__ import annotations

import logging
import os
import pickle
from typing import Any

import torch
from detectron2.checkpoint import DetectionCheckpointer

from ..io.atomic import atomic_open

logger = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and what to do."""


def unsafe_checkpoint_message(path: str, what: str) -> str:
    return (f"Checkpoint {path} {what}, which can run code when it is read: refused. Use a checkpoint "
            "saved by scratchdet/detectron2 (tensors and plain values), or, only for a file you trust, "
            "set SCRATCHDET.CHECKPOINT.ALLOW_PICKLE True.")


def safe_torch_load(path: str, allow_pickle: bool = False) -> Any:
    """``torch.load`` on the CPU that refuses, with a :class:`CheckpointError` naming the file,
    anything but tensors and plain values unless ``allow_pickle``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as e:
        if allow_pickle:
            raise CheckpointError(f"Cannot read checkpoint {path}: {e}") from e
        raise CheckpointError(unsafe_checkpoint_message(path, "holds objects other than tensors")) from e
    except Exception as e:  # torch raises many types (KeyError, RuntimeError, ...) for what is not a checkpoint
        raise CheckpointError(f"Cannot read checkpoint {path}: {type(e).__name__}: {e}. The file is truncated or "
                              "not a PyTorch checkpoint; pick another one (MODEL.WEIGHTS).") from e


class ScratchCheckpointer(DetectionCheckpointer):
    """Saves never leave a half-written ``.pth`` or ``last_checkpoint`` (temporary file, then
    rename), and loading refuses a checkpoint in which fewer than ``min_matched_fraction`` of the
    model's parameters are found with the right shape (a checkpoint from another model), instead
    of training silently from random weights. Files are read with ``torch.load(...,
    weights_only=True)``: a checkpoint that holds other objects than tensors and plain values,
    or a pickle (``.pkl``, ``.pyth``), could run code when read and is refused unless
    ``allow_pickle`` (SCRATCHDET.CHECKPOINT.ALLOW_PICKLE) says the file is trusted."""

    def __init__(self, model: torch.nn.Module, save_dir: str = "", *, min_matched_fraction: float = 0.5,
                 allow_pickle: bool = False, **checkpointables: Any):
        super().__init__(model, save_dir, **checkpointables)
        self.min_matched_fraction = min_matched_fraction
        self.allow_pickle = allow_pickle
        self._loading = ""

    def _load_file(self, filename: str) -> dict:
        if filename.endswith((".pkl", ".pyth")) and not self.allow_pickle:
            raise CheckpointError(unsafe_checkpoint_message(filename, "is a pickle"))
        return super()._load_file(filename)

    def _torch_load(self, f: str) -> dict:
        return safe_torch_load(f, self.allow_pickle)

    def save(self, name: str, **kwargs: Any) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {save_file}")
        try:
            with atomic_open(save_file, "wb") as f:
                torch.save(data, f)
            # The best-so-far model is not where --resume continues from: training went on after it.
            if not name.startswith("model_best"):
                self.tag_last_checkpoint(basename)
        except OSError as e:  # a full disk, a quota, a folder made read-only during training
            kept = (f"the last complete checkpoint, {self.get_checkpoint_file()}, is intact (--resume continues from it)"
                    if self.has_checkpoint() else "no checkpoint of this run was written before")
            raise CheckpointError(f"Cannot save checkpoint {save_file}: {e.strerror or e}. Nothing was half-written: "
                                  f"{kept}. Free space in {self.save_dir} (or raise SOLVER.CHECKPOINT_PERIOD), "
                                  "then run again.") from e

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        with atomic_open(os.path.join(self.save_dir, "last_checkpoint"), "w") as f:
            f.write(last_filename_basename)

    def load(self, path: str, checkpointables: list[str] | None = None) -> dict:
        self._loading = path
        if path and not path.startswith(("detectron2://", "catalog://", "http://", "https://")):
            local = self.path_manager.get_local_path(path)
            if not os.path.isfile(local):
                raise CheckpointError(f"Checkpoint not found: {path}. Check MODEL.WEIGHTS (or OUTPUT_DIR/last_checkpoint).")
        try:
            return super().load(path, checkpointables)
        except (RuntimeError, EOFError, OSError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(f"Cannot read checkpoint {path}: {e}. The file is truncated or not a "
                                  "PyTorch checkpoint; pick another one (MODEL.WEIGHTS).") from e

    def _load_model(self, checkpoint: dict):
        incompatible = super()._load_model(checkpoint)
        own = self.model.state_dict()
        missing = set(incompatible.missing_keys) | {k for k, *_ in incompatible.incorrect_shapes}
        # Counted in values, not tensors: a backbone of another depth is most of a detector's
        # weights even when the heads' tensors all match.
        total = sum(v.numel() for v in own.values())
        matched = sum(v.numel() for k, v in own.items() if k not in missing)
        if total and matched / total < self.min_matched_fraction:
            example = sorted(missing)[:3]
            raise CheckpointError(
                f"Checkpoint {self._loading} matches only {matched / total:.0%} of the model's weights "
                f"({len(own) - len(missing & set(own))} of {len(own)} tensors; missing or of another shape, "
                f"e.g. {example}): it was saved from another model or config. Use a checkpoint of this "
                "config, or lower SCRATCHDET.CHECKPOINT.MIN_MATCHED_FRACTION to load it partially."
            )
        return incompatible
