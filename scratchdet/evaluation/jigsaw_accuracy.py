"""Held-out accuracy of the jigsaw classifier (phase 1 of projects/JigsawPretrain), on evaluation
canvases of the JigsawMapper (each fixed by its image id)."""

from __future__ import annotations

from collections import Counter

import torch
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm


class JigsawEvaluator(DatasetEvaluator):
    """Accuracy of the dense classification on canvases with known cell labels:

    - ``cell_acc``: cells whose class by mean probability over their positions (the model's
      ``cell_scores``) is their label;
    - ``position_acc``: output positions whose arg-max class is their own cell's label;
    - ``chance``: the accuracy of always answering the most frequent cell label of these canvases.

    All in percent. Needs model outputs with ``cell_scores`` (4, K) and ``logits`` (K, Hf, Wf),
    ``position_cell`` (Hf * Wf,) (own cell of each position, -1 for none) and inputs with
    ``cell_labels``.
    """

    def reset(self) -> None:
        self._cell = [0, 0]
        self._pos = [0, 0]
        self._labels: Counter = Counter()

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        for x, y in zip(inputs, outputs):
            labels = x["cell_labels"].to("cpu")
            self._labels.update(labels.tolist())
            self._cell[0] += int((y["cell_scores"].to("cpu").argmax(1) == labels).sum())
            self._cell[1] += len(labels)
            cell = y["position_cell"].to("cpu")
            inside = cell >= 0
            pred = y["logits"].to("cpu").flatten(1).argmax(0)
            self._pos[0] += int((pred[inside] == labels[cell[inside]]).sum())
            self._pos[1] += int(inside.sum())

    def evaluate(self) -> dict:
        parts = comm.gather((self._cell, self._pos, self._labels), dst=0)
        if not comm.is_main_process():
            return {}
        cell = torch.tensor([p[0] for p in parts]).sum(0).tolist()
        pos = torch.tensor([p[1] for p in parts]).sum(0).tolist()
        labels = sum((p[2] for p in parts), Counter())
        majority = max(labels.values()) if labels else 0
        return {"jigsaw": {
            "cell_acc": 100.0 * cell[0] / max(cell[1], 1),
            "position_acc": 100.0 * pos[0] / max(pos[1], 1),
            "chance": 100.0 * majority / max(cell[1], 1),
            "num_cells": float(cell[1]),
        }}
