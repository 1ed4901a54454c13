from . import datasets, mappers  # noqa: F401  (registration)
from . import jigsaw  # noqa: F401  (registers JigsawMapper)
from .mapper_registry import MAPPER_REGISTRY, build_mapper

__all__ = ["MAPPER_REGISTRY", "build_mapper"]
