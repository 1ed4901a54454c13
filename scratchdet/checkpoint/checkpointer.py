"""detectron2's DetectionCheckpointer extended (as DensePose's checkpointer extends it) into the
one path by which weights reach a model: ``MODEL.WEIGHTS``, ``--resume`` and phase 2 of a
two-phase run all load through :class:`ScratchCheckpointer`.

- Safe by default: files are read with ``torch.load(weights_only=True)``; ``.pkl`` files and
  files holding other objects are refused unless SCRATCHDET.CHECKPOINT.ALLOW_PICKLE
  (:mod:`.safe_load`).
- Key map and conversion rules (SCRATCHDET.HANDOVER.KEY_MAP; ViT position terms resized), then
  a matched-fraction check that refuses a checkpoint of another model, and a report of what was
  copied, converted and re-initialised, logged and (for a load of weights only, i.e. not a
  resume) saved as OUTPUT_DIR/handover.json (:mod:`.conversion`).
- Saves never leave a half-written ``.pth`` or ``last_checkpoint`` (temporary file, then rename).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import CfgNode
from detectron2.utils import comm

from ..io.atomic import atomic_open, atomic_write_json
from .conversion import log_report, map_keys, match_state_dict
from .errors import CheckpointError, CheckpointMismatchError
from .safe_load import load_checkpoint_file, refuse_pickle

logger = logging.getLogger(__name__)

# Where a checkpoint of a training with model EMA keeps the trained (not averaged) weights.
RAW_MODEL = "raw_model"
REMOTE = ("detectron2://", "catalog://", "http://", "https://")


def _numel(state: dict[str, torch.Tensor], keys) -> int:
    return sum(state[k].numel() for k in keys if k in state)


class ScratchCheckpointer(DetectionCheckpointer):
    """See the module doc. ``report_file``: where a load of weights only saves its report."""

    def __init__(self, model: torch.nn.Module, save_dir: str = "", *, min_matched_fraction: float = 0.5,
                 key_map: list | None = None, allow_pickle: bool = False, report_file: str | None = None,
                 for_evaluation: bool = False, **checkpointables: Any):
        super().__init__(model, save_dir, **checkpointables)
        self.min_matched_fraction = min_matched_fraction
        self.key_map = [list(m) for m in key_map or []]
        self.allow_pickle = allow_pickle
        self.report_file = report_file
        # Evaluating needs the whole model from the checkpoint: a source that merely gives most of
        # itself (a backbone starting a detector) is not enough there.
        self.for_evaluation = for_evaluation
        self._loading = ""
        self._weights_only = False
        # A model average (EMA) of the training, set by the Trainer: saved as the checkpoint's
        # "model" (what evaluation and MODEL.WEIGHTS load), the trained weights as "raw_model".
        self.averaged_model: torch.nn.Module | None = None

    @classmethod
    def from_config(cls, cfg: CfgNode, model: torch.nn.Module, save_dir: str | None = None,
                    for_evaluation: bool = False, **checkpointables: Any) -> ScratchCheckpointer:
        """The checkpointer with the SCRATCHDET.CHECKPOINT and SCRATCHDET.HANDOVER keys of ``cfg``.
        ``for_evaluation``: no key map, no handover.json (the training's record stays), and the
        checkpoint must cover the model."""
        save_dir = cfg.OUTPUT_DIR if save_dir is None else save_dir
        report = (os.path.join(save_dir, "handover.json") if save_dir and comm.is_main_process()
                  and not for_evaluation else None)
        return cls(model, save_dir, min_matched_fraction=cfg.SCRATCHDET.CHECKPOINT.MIN_MATCHED_FRACTION,
                   key_map=[] if for_evaluation else list(cfg.SCRATCHDET.HANDOVER.KEY_MAP),
                   allow_pickle=cfg.SCRATCHDET.CHECKPOINT.ALLOW_PICKLE, report_file=report,
                   for_evaluation=for_evaluation, **checkpointables)

    # ---- saving -------------------------------------------------------------------------------
    def save(self, name: str, **kwargs: Any) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        if self.averaged_model is not None:
            data = {"model": self.averaged_model.state_dict(), RAW_MODEL: self.model.state_dict()}
        else:
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

    # ---- loading ------------------------------------------------------------------------------
    def load(self, path: str, checkpointables: list[str] | None = None) -> dict:
        self._loading = path
        # detectron2 loads MODEL.WEIGHTS with checkpointables=[] (weights only) and a resume with all.
        self._weights_only = checkpointables is not None and len(checkpointables) == 0
        if path and not path.startswith(REMOTE):
            local = self.path_manager.get_local_path(path)
            if not os.path.exists(local):
                raise CheckpointError(f"Checkpoint not found: {path}. Check MODEL.WEIGHTS (or OUTPUT_DIR/last_checkpoint).")
            if os.path.isdir(local):
                raise CheckpointError(f"Checkpoint {path} is a directory, not a file: give the .pth file in it "
                                      "(e.g. model_final.pth).")
        try:
            return super().load(path, checkpointables)
        except CheckpointError:
            raise
        except (RuntimeError, EOFError, OSError, KeyError, AttributeError, TypeError) as e:
            raise CheckpointError(f"Cannot read checkpoint {path}: {e}. The file is truncated or not a "
                                  "PyTorch checkpoint; pick another one (MODEL.WEIGHTS).") from e

    def _load_file(self, filename: str) -> dict:
        # detectron2 reads .pkl (model zoo) with pickle.load: only when explicitly allowed.
        # (detectron2 reads .pyth, pycls files, with a plain torch.load: refused the same way.)
        if filename.endswith((".pkl", ".pyth")) and not self.allow_pickle:
            raise refuse_pickle(self._loading or filename, "a .pkl/.pyth file is a plain Python pickle.")
        return super()._load_file(filename)  # .pth: -> _torch_load below

    def _torch_load(self, f: str) -> dict:
        loaded = load_checkpoint_file(f, allow_pickle=self.allow_pickle)
        if not isinstance(loaded, dict):
            raise CheckpointError(f"Checkpoint {self._loading or f} holds a {type(loaded).__name__}, not a "
                                  "state dict: give a .pth saved by detectron2/scratchdet or a state dict.")
        return loaded

    def _load_model(self, checkpoint: dict):
        averaged = None
        if RAW_MODEL in checkpoint:
            # A checkpoint of a training with EMA: a resume continues the trained weights and
            # restores the average; MODEL.WEIGHTS and evaluation take the average ("model").
            raw = checkpoint.pop(RAW_MODEL)
            if not self._weights_only and not self.for_evaluation:
                averaged, checkpoint["model"] = checkpoint["model"], raw
        incompatible = self._load_model_weights(checkpoint)
        if averaged is not None and self.averaged_model is not None:
            self.averaged_model.load_state_dict(averaged)
        return incompatible

    def _load_model_weights(self, checkpoint: dict):
        if checkpoint.get("matching_heuristics", False):  # Caffe2/pycls names: detectron2 aligns them
            return super()._load_model(checkpoint)
        state = checkpoint["model"]
        if not isinstance(state, dict):
            raise CheckpointError(f"Checkpoint {self._loading} has a 'model' entry that is not a state dict.")
        bad = [k for k, v in state.items() if not isinstance(v, (torch.Tensor, np.ndarray))]
        if bad:
            raise CheckpointError(f"Checkpoint {self._loading} is not a state dict of tensors (e.g. {bad[:3]} "
                                  "are not tensors): give a .pth saved by detectron2/scratchdet.")
        self._convert_ndarray_to_tensor(state)
        if state and all(k.startswith("module.") for k in state):  # saved from a DDP-wrapped model
            state = {k[len("module."):]: v for k, v in state.items()}
        own = self.model.state_dict()
        # The key map renames a *source's* weights (a classifier's backbone for a detector); a resume
        # reads this model's own checkpoint, whose names need no mapping.
        key_map = self.key_map if self._weights_only else []
        new_state, report = match_state_dict(own, state, key_map)
        self._check_matched(own, state, report, key_map)
        checkpoint["model"] = new_state
        incompatible = super()._load_model(checkpoint)
        log_report(report)
        if self._weights_only and self.report_file:
            atomic_write_json(report, self.report_file)
        return incompatible

    def _check_matched(self, own: dict, source: dict, report: dict[str, list], key_map: list) -> None:
        """Refuse a checkpoint of another model: fewer than ``min_matched_fraction`` of the model's
        values found in it, and fewer than that fraction of its values used. (Counted in values,
        not tensors: a backbone of another depth is most of a detector's weights even when the
        heads' tensors all match. Both sides, so that a backbone checkpoint can start a detector.)"""
        used = report["copied"] + [k for k, _ in report["converted"]]
        total_model = _numel(own, own)
        frac_model = _numel(own, used) / total_model if total_model else 1.0
        total_source = _numel(source, source)
        frac_source = (total_source - _numel(source, self._unused_source_keys(source, report, key_map))) / total_source \
            if total_source else 0.0
        # A resume or an evaluation needs the model itself; weights given to start a training may
        # also be a part of it (most of the source used, e.g. a pre-trained backbone).
        enough = frac_model if self.for_evaluation or not self._weights_only else max(frac_model, frac_source)
        if enough >= self.min_matched_fraction or not own:
            return
        missing = sorted(k for k, _ in report["reinitialized"])
        raise CheckpointMismatchError(
            f"Checkpoint {self._loading} matches only {frac_model:.0%} of the model's weights "
            f"({len(used)} of {len(own)} tensors; missing or of another shape, e.g. {missing[:3]}; "
            f"{frac_source:.0%} of the checkpoint's weights are used): it was saved from another model "
            "or config. Use a checkpoint of this config, map its names with SCRATCHDET.HANDOVER.KEY_MAP "
            "(e.g. [['backbone.', 'backbone.bottom_up.']]), or lower "
            "SCRATCHDET.CHECKPOINT.MIN_MATCHED_FRACTION to load it partially.",
            report,
        )

    def _unused_source_keys(self, source: dict, report: dict[str, list], key_map: list) -> list[str]:
        # Report keys are after the key map; map the source's keys the same way to compare.
        mapped = map_keys({k: k for k in source}, key_map)
        used = set(report["copied"]) | {k for k, _ in report["converted"]}
        return [orig for new, orig in zip(mapped, mapped.values()) if new not in used]
