"""Parts of jigsaw (Montage) pre-training: the ERF measurement (erf.py) and the dense labels and
losses (labels.py); the meta-architecture is meta_arch/jigsaw_classifier.py."""

from .erf import erf_radius, integral_maps, measure_erf, rect_mass, sum_pool
from .labels import (
    LABEL_MODES,
    area_weights,
    block_loss,
    cell_accuracy,
    cell_logits,
    dense_loss,
    erf_weights,
    global_mix_loss,
    global_mix_targets,
    own_cells,
    position_centers,
    soft_targets,
    target_entropy,
)

__all__ = [
    "LABEL_MODES",
    "area_weights",
    "block_loss",
    "cell_accuracy",
    "cell_logits",
    "dense_loss",
    "erf_radius",
    "erf_weights",
    "global_mix_loss",
    "global_mix_targets",
    "integral_maps",
    "measure_erf",
    "own_cells",
    "position_centers",
    "rect_mass",
    "soft_targets",
    "sum_pool",
    "target_entropy",
]
