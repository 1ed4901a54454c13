from .augmented_dataset_mapper import AugmentedDatasetMapper
from .dataset_mapper import DatasetMapper
from .lowres_mapper import LowResPretrainMapper
from .ssd_mapper import SSDMapper

__all__ = ["LowResPretrainMapper", "AugmentedDatasetMapper", "DatasetMapper", "SSDMapper"]
