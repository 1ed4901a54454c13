"""JigsawEvaluator: cell and position accuracy with exact counts, and the majority-label chance."""

import torch

from scratchdet.evaluation.jigsaw_accuracy import JigsawEvaluator


def test_cell_and_position_accuracy():
    ev = JigsawEvaluator()
    ev.reset()
    labels = torch.tensor([0, 2, 2, 1])
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]])  # 3 of 4 right
    logits = torch.zeros(3, 2, 2)  # positions (row-major) in cells 0, 1, 3 and none
    logits[0, 0, 0] = 1  # cell 0 label 0: right
    logits[1, 0, 1] = 1  # cell 1 label 2: wrong
    logits[1, 1, 0] = 1  # cell 3 label 1: right
    ev.process([{"cell_labels": labels}], [{"cell_scores": scores, "logits": logits,
                                            "position_cell": torch.tensor([0, 1, 3, -1])}])
    res = ev.evaluate()["jigsaw"]
    assert res["cell_acc"] == 75.0
    assert abs(res["position_acc"] - 200 / 3) < 1e-9
    assert res["chance"] == 50.0 and res["num_cells"] == 4  # label 2 is half the cells
