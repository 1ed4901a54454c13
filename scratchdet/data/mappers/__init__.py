from .dataset_mapper import DatasetMapper

__all__ = ["DatasetMapper"]
