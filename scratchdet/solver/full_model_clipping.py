"""Whole-model gradient clipping (``SOLVER.CLIP_GRADIENTS.CLIP_TYPE "full_model"``).

detectron2's yacs solver clips each parameter's gradient on its own ("value", "norm"). DETR-style
decoders are trained with the norm of all gradients together clipped (DETR at 0.1; DEYO's code,
through ultralytics' trainer, at 10): one scale for every parameter, which keeps the update's
direction. The type name is the one of DETR's detectron2 project.
"""

from __future__ import annotations

import itertools

import torch

FULL_MODEL = "full_model"


def with_full_model_clipping(optimizer: torch.optim.Optimizer, max_norm: float) -> torch.optim.Optimizer:
    """``optimizer`` whose ``step`` first clips the total norm of all its parameters' gradients
    to ``max_norm`` (the object's class is swapped for a subclass, as detectron2 does for its clipping)."""
    base = type(optimizer)

    class FullModelClipped(base):
        def step(self, closure=None):
            params = itertools.chain(*[g["params"] for g in self.param_groups])
            torch.nn.utils.clip_grad_norm_(params, max_norm)
            return super().step(closure)

    FullModelClipped.__name__ = base.__name__ + "WithFullModelGradientClipping"
    optimizer.__class__ = FullModelClipped
    return optimizer
