from .augmented_dataset_mapper import AugmentedDatasetMapper
from .dataset_mapper import DatasetMapper

__all__ = ["AugmentedDatasetMapper", "DatasetMapper"]
