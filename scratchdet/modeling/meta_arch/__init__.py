"""Meta-architectures registered in detectron2's META_ARCH_REGISTRY (one import line per module)."""

from . import deyo
from . import jigsaw_classifier
from . import mae
from . import scratchdet_ssd
from . import fcos
