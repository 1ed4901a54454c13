"""detectron2's DatasetMapper, registered by name, with image read errors that name the file."""

from __future__ import annotations

import detectron2.data as d2data

from ..datasets.errors import DatasetError
from ..mapper_registry import MAPPER_REGISTRY


@MAPPER_REGISTRY.register()
class DatasetMapper(d2data.DatasetMapper):
    """detectron2's default mapper (resize, flip, annotations to Instances). A missing or corrupt
    image raises a :class:`DatasetError` naming the file instead of a bare PIL/OS error. Mappers
    of scratchdet subclass this one."""

    def __call__(self, dataset_dict: dict) -> dict:
        try:
            return super().__call__(dataset_dict)
        except (OSError, SyntaxError) as e:  # PIL raises OSError (UnidentifiedImageError) or SyntaxError
            raise DatasetError(
                f"Cannot read image {dataset_dict.get('file_name')}: {e}. The file is missing or "
                "corrupt: replace it, or remove it from the dataset's annotation file."
            ) from e
