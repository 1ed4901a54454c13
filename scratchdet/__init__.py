"""scratchdet: detectron2 extension for object detectors trained without ImageNet pre-training.

Importing the package registers every backbone, meta-architecture, dataset mapper and embedded
dataset in detectron2's registries, so a user's own detectron2 code can ``import scratchdet``
and use them by name.
"""

__version__ = "0.1.0"

from .config import add_scratchdet_config
from . import data, modeling, engine

__all__ = ["add_scratchdet_config", "__version__"]
