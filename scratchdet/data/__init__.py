from . import datasets, jigsaw, mappers
from .mapper_registry import MAPPER_REGISTRY, build_mapper

__all__ = ["MAPPER_REGISTRY", "build_mapper"]
