"""Reading a dataset image: one reader for every mapper, with errors that name the file.

8-bit images are read exactly as detectron2's ``read_image`` reads them. Images of more than 8
bits per pixel (16-bit PNG/TIFF, 32-bit integer or float TIFF: microscopy, remote sensing) would
be clipped to 255 by PIL's conversion to RGB, i.e. come out all white; they are scaled to 8 bits
as SCRATCHDET.DATA.HIGH_BIT_DEPTH says, then converted to INPUT.FORMAT (grayscale becomes three
equal channels). An image that is blank after reading is never used silently: an error when
the scaling made it blank, a warning naming the file when the file itself is blank.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from detectron2.config import CfgNode
from detectron2.data import detection_utils as utils
from detectron2.utils.file_io import PathManager
from PIL import Image, ImageOps

from ..config.errors import ConfigError
from .datasets.errors import DatasetError

logger = logging.getLogger(__name__)

HIGH_BIT_DEPTH_MODES = ("image_range", "fixed", "error")
# PIL modes of single-channel images with more than 8 bits per pixel.
_HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I;16S", "I", "F")
_TIFF_SUFFIXES = (".tif", ".tiff")
# Files already reported as blank (one warning per file, not one per epoch).
_warned_blank: set[str] = set()


@dataclass(frozen=True)
class HighBitDepth:
    """How a single-channel image of more than 8 bits is scaled to 0-255 (see the config keys)."""

    mode: str = "image_range"
    percentiles: tuple[float, float] = (0.0, 100.0)
    bits: int = 16


def high_bit_depth_from_config(cfg: CfgNode) -> HighBitDepth:
    """The SCRATCHDET.DATA.HIGH_BIT_DEPTH* keys, checked (a bad value names its key)."""
    d = cfg.SCRATCHDET.DATA
    if d.HIGH_BIT_DEPTH not in HIGH_BIT_DEPTH_MODES:
        raise ConfigError(f"SCRATCHDET.DATA.HIGH_BIT_DEPTH='{d.HIGH_BIT_DEPTH}': use one of {list(HIGH_BIT_DEPTH_MODES)}.")
    lo, hi = (float(p) for p in d.HIGH_BIT_DEPTH_PERCENTILES)
    if not 0 <= lo < hi <= 100:
        raise ConfigError(f"SCRATCHDET.DATA.HIGH_BIT_DEPTH_PERCENTILES={tuple(d.HIGH_BIT_DEPTH_PERCENTILES)}: "
                          "need two percentiles 0 <= low < high <= 100, e.g. (0.0, 100.0) for min-max.")
    if not 9 <= int(d.HIGH_BIT_DEPTH_BITS) <= 32:
        raise ConfigError(f"SCRATCHDET.DATA.HIGH_BIT_DEPTH_BITS={d.HIGH_BIT_DEPTH_BITS}: use the number of "
                          "significant bits of your images, 9 to 32 (e.g. 12 or 16).")
    return HighBitDepth(d.HIGH_BIT_DEPTH, (lo, hi), int(d.HIGH_BIT_DEPTH_BITS))


def image_read_error(file_name: str | None, err: Exception) -> DatasetError:
    return DatasetError(f"Cannot read image {file_name}: {err}. The file is missing or corrupt: replace it, "
                        "or remove it from the dataset's annotation file.")


def scale_to_uint8(values: np.ndarray, how: HighBitDepth, file_name: str) -> np.ndarray:
    """A 2-D array of more than 8 bits (integer or float) scaled to uint8, keeping the order of
    intensities: by the image's own range (percentiles), or by the fixed range of ``how.bits``
    (float images: 0-1)."""
    if how.mode == "error":
        raise DatasetError(
            f"{file_name}: a {values.dtype} image of more than 8 bits per pixel, refused because "
            "SCRATCHDET.DATA.HIGH_BIT_DEPTH is 'error'. Convert it to 8 bits, or set "
            "SCRATCHDET.DATA.HIGH_BIT_DEPTH image_range (scale by each image's range) or fixed."
        )
    is_float = np.issubdtype(values.dtype, np.floating)
    values = values.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():  # NaN/inf in float images (no-data pixels): the darkest valid value
        values = np.where(finite, values, values[finite].min() if finite.any() else 0.0)
    if how.mode == "image_range":
        if how.percentiles == (0.0, 100.0):
            lo, hi = float(values.min()), float(values.max())
        else:
            lo, hi = (float(v) for v in np.percentile(values, how.percentiles))
    else:  # "fixed": the full range of the bit depth (float images: 0-1)
        lo, hi = 0.0, 1.0 if is_float else float(2**how.bits - 1)
    if hi <= lo:  # a constant image: nothing to scale (reported by the caller)
        return np.zeros(values.shape, np.uint8)
    out = np.round(np.clip((values - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    if out.min() == out.max() and values.min() != values.max():
        raise DatasetError(
            f"{file_name}: the image has values {values.min():g} to {values.max():g} but is blank after scaling "
            f"{lo:g}-{hi:g} to 8 bits (SCRATCHDET.DATA.HIGH_BIT_DEPTH {how.mode}). Set "
            "SCRATCHDET.DATA.HIGH_BIT_DEPTH image_range (each image's own range), or the images' real "
            "SCRATCHDET.DATA.HIGH_BIT_DEPTH_BITS."
        )
    return out


def _read_tiff_fallback(file_name: str, err: Exception) -> np.ndarray:
    """TIFFs PIL cannot open (float64, several 16-bit channels) through tifffile."""
    try:
        import tifffile  # a requirement, but only needed for these files

        with PathManager.open(file_name, "rb") as f:
            return np.asarray(tifffile.imread(f))
    except Exception:  # not a TIFF tifffile reads either: report PIL's error
        raise image_read_error(file_name, err) from err


def _to_format(values: np.ndarray, image_format: str, how: HighBitDepth, file_name: str) -> np.ndarray:
    """A numpy image (any dtype, 2-D or HxWxC) to INPUT.FORMAT, high bit depths scaled."""
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.ndim == 2:
        if values.dtype != np.uint8:
            values = scale_to_uint8(values, how, file_name)
        return utils.convert_PIL_to_numpy(Image.fromarray(values, "L"), image_format)
    if values.ndim == 3 and values.shape[2] in (3, 4):
        if values.dtype != np.uint8:  # each channel by the same range, so colours keep their balance
            flat = values[:, :, :3].reshape(values.shape[0], -1)
            values = scale_to_uint8(flat, how, file_name).reshape(values.shape[0], values.shape[1], 3)
        return utils.convert_PIL_to_numpy(Image.fromarray(np.ascontiguousarray(values[:, :, :3]), "RGB"), image_format)
    raise DatasetError(f"{file_name}: an image of shape {values.shape} ({values.dtype}): expected a "
                       "grayscale or RGB image. Convert it to a 1- or 3-channel PNG or TIFF.")


def read_image_file(file_name: str, image_format: str, high_bit_depth: HighBitDepth | None = None) -> np.ndarray:
    """The image as an HxWxC uint8 array in ``image_format`` (detectron2's formats: "BGR", "RGB",
    "L", ...), EXIF orientation applied. Raises :class:`DatasetError` naming the file when it is
    missing, corrupt, or of more than 8 bits with SCRATCHDET.DATA.HIGH_BIT_DEPTH 'error'."""
    how = high_bit_depth or HighBitDepth()
    try:
        with PathManager.open(file_name, "rb") as f:
            image = Image.open(f)
            if image.mode not in _HIGH_BIT_MODES:
                return utils.convert_PIL_to_numpy(ImageOps.exif_transpose(image), image_format)
            values = np.asarray(ImageOps.exif_transpose(image))
    except (OSError, SyntaxError) as e:  # PIL raises OSError (UnidentifiedImageError) or SyntaxError
        if not str(file_name).lower().endswith(_TIFF_SUFFIXES) or isinstance(e, FileNotFoundError):
            raise image_read_error(file_name, e) from e
        values = _read_tiff_fallback(file_name, e)
    return _to_format(values, image_format, how, file_name)


def _warn_if_blank(image: np.ndarray, dataset_dict: dict) -> None:
    """A constant image carries nothing to learn from: warn, naming the file (once per file).
    (An image that only became constant when scaled from more than 8 bits is an error, raised by
    :func:`scale_to_uint8`.)"""
    if image.size == 0 or image.min() != image.max():
        return
    file_name = dataset_dict.get("file_name")
    if file_name in _warned_blank:
        return
    _warned_blank.add(file_name)
    n = sum(1 for a in dataset_dict.get("annotations", []) if not a.get("iscrowd", 0))
    logger.warning(f"{file_name}: the image is blank (every pixel is {int(image.flat[0])}, "
                   f"{image.shape[1]}x{image.shape[0]}) and has {n} annotation(s). If that is not what the "
                   "file shows in an image viewer, re-export it; otherwise remove it from the dataset.")


def check_image_size(dataset_dict: dict, image: np.ndarray) -> None:
    """detectron2's ``check_image_size`` with a message naming the file and both sizes."""
    w, h = dataset_dict.get("width"), dataset_dict.get("height")
    if (w is not None or h is not None) and (w, h) != (image.shape[1], image.shape[0]):
        raise DatasetError(
            f"{dataset_dict.get('file_name')}: the annotation file says the image is {w}x{h} (width x height) "
            f"but the file is {image.shape[1]}x{image.shape[0]}. Fix 'width'/'height' in the annotation "
            "file (or re-export it), or replace the image with the one that was annotated."
        )
    dataset_dict.setdefault("width", image.shape[1])
    dataset_dict.setdefault("height", image.shape[0])


def read_dataset_image(dataset_dict: dict, image_format: str, high_bit_depth: HighBitDepth | None = None) -> np.ndarray:
    """Read ``dataset_dict["file_name"]`` (see :func:`read_image_file`) and check it against the
    dict: its size matches width/height (a :class:`DatasetError` naming the file otherwise); a
    blank image is warned about."""
    image = read_image_file(dataset_dict["file_name"], image_format, high_bit_depth)
    check_image_size(dataset_dict, image)
    _warn_if_blank(image, dataset_dict)
    return image
