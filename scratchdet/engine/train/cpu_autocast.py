"""Training steps in bfloat16 autocast on the CPU (SCRATCHDET.CPU.AUTOCAST_BF16): detectron2's
AMPTrainer needs CUDA; on a CPU, bfloat16 needs no gradient scaler, so the step is detectron2's
SimpleTrainer step inside ``torch.autocast("cpu", torch.bfloat16)``."""

from __future__ import annotations

import torch
from detectron2.engine import SimpleTrainer


class CPUAutocastTrainer(SimpleTrainer):
    def run_step(self) -> None:
        # Ops that autocast does not list (the optimizer's in-place updates, losses' reductions)
        # stay in float32; convolutions and matrix products run in bfloat16.
        with torch.autocast("cpu", dtype=torch.bfloat16):
            super().run_step()
