from .augmented_dataset_mapper import AugmentedDatasetMapper
from .dataset_mapper import DatasetMapper
from .image_only_mapper import ImageOnlyMapper
from .lowres_mapper import LowResPretrainMapper
from .ssd_mapper import SSDMapper

__all__ = ["LowResPretrainMapper", "AugmentedDatasetMapper", "DatasetMapper", "ImageOnlyMapper", "SSDMapper"]
