"""Periodic checkpoints that keep only the newest SCRATCHDET.CHECKPOINT.MAX_TO_KEEP on disk."""

from __future__ import annotations

import os
import re

from detectron2.engine import hooks


def periodic_checkpoints(folder: str, before_iter: int | None = None, prefix: str = "model") -> list[str]:
    """The periodic checkpoints in ``folder`` (``{prefix}_0004999.pth``, as fvcore names them; more
    digits past 10 million iterations), below ``before_iter`` when given, oldest first."""
    if not os.path.isdir(folder):
        return []
    pattern = re.compile(rf"^{re.escape(prefix)}_(\d{{7,}})\.pth$")
    found = []
    for name in os.listdir(folder):
        m = pattern.match(name)
        if m and (before_iter is None or int(m.group(1)) < before_iter):
            found.append((int(m.group(1)), os.path.join(folder, name)))
    return [path for _, path in sorted(found)]


class RetainingPeriodicCheckpointer(hooks.PeriodicCheckpointer):
    """detectron2's PeriodicCheckpointer with ``max_to_keep``, which also counts the periodic files
    an earlier run of this OUTPUT_DIR left: without that, every ``--resume`` would start a new count
    and the disk would still fill up over a long, interrupted training. model_final.pth and
    model_best.pth are never deleted, and the newest periodic file (the one ``--resume`` read) is
    always kept: a checkpoint is deleted only when a newer one is on disk."""

    def __init__(self, checkpointer, period: int, max_to_keep: int, **kwargs):
        super().__init__(checkpointer, period, max_to_keep=max_to_keep, **kwargs)

    def before_train(self) -> None:
        super().before_train()  # sets max_iter
        # Files from this run's past (a resumed run starts at start_iter); later ones, left by a
        # longer run of the same folder, are not in this run's history and stay untouched.
        self.recent_checkpoints = periodic_checkpoints(self.checkpointer.save_dir, self.trainer.start_iter,
                                                       self.file_prefix)
        while len(self.recent_checkpoints) > self.max_to_keep:
            old = self.recent_checkpoints.pop(0)
            if self.path_manager.exists(old):
                self.path_manager.rm(old)
