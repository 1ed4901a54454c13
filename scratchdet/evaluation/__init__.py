from .build import build_evaluator
from .prediction_grid import draw_prediction_grid

__all__ = ["build_evaluator", "draw_prediction_grid"]
