from . import datasets, jigsaw, mappers  # noqa: F401  (registration)
from .mapper_registry import MAPPER_REGISTRY, build_mapper

__all__ = ["MAPPER_REGISTRY", "build_mapper"]
