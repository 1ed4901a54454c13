"""Meta-architectures registered in detectron2's META_ARCH_REGISTRY (one import line per module)."""

from . import deyo  # noqa: F401
from . import jigsaw_classifier  # noqa: F401
from . import scratchdet_ssd  # noqa: F401
