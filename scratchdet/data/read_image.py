"""Reading a dataset image with an error that names the file."""

from __future__ import annotations

import numpy as np
from detectron2.data import detection_utils as utils

from .datasets.errors import DatasetError


def image_read_error(file_name: str | None, err: Exception) -> DatasetError:
    return DatasetError(f"Cannot read image {file_name}: {err}. The file is missing or corrupt: replace it, "
                        "or remove it from the dataset's annotation file.")


def read_dataset_image(dataset_dict: dict, image_format: str) -> np.ndarray:
    """detectron2's ``read_image`` + ``check_image_size``; a missing or corrupt file raises a
    :class:`DatasetError` naming it (PIL raises OSError / UnidentifiedImageError or SyntaxError)."""
    try:
        image = utils.read_image(dataset_dict["file_name"], format=image_format)
    except (OSError, SyntaxError) as e:
        raise image_read_error(dataset_dict.get("file_name"), e) from e
    utils.check_image_size(dataset_dict, image)
    return image
