"""Unlabelled image sets (a folder of images, or the "images" of a COCO json), registered as
datasets of image-only dicts for phases that need no labels (masked-image pre-training)."""

from __future__ import annotations

import json
import os

from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image, UnidentifiedImageError

from .errors import DatasetError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _image_size(path: str) -> tuple[int, int]:
    """(height, width) from the file's header, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise DatasetError(f"Cannot read image {path}: {e}. Replace the file or remove it from the folder.") from e
    return h, w


def _files_of(path: str, image_root: str | None, key: str) -> list[str]:
    if os.path.isdir(path):
        files = sorted(
            os.path.join(root, f) for root, _, names in os.walk(path) for f in names
            if f.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not files:
            raise DatasetError(f"{key}: folder {path} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
        return files
    if os.path.isfile(path) and path.endswith(".json"):
        try:
            with open(path) as f:
                images = json.load(f).get("images")
        except (json.JSONDecodeError, AttributeError) as e:
            raise DatasetError(f"{key}: {path} is not a COCO json with an 'images' list ({e}).") from None
        if not images:
            raise DatasetError(f"{key}: {path} has no 'images'.")
        root = image_root if image_root is not None else os.path.dirname(path)
        return [os.path.join(root, im["file_name"]) for im in images]
    raise DatasetError(f"{key}: {path} is neither a folder of images nor a .json file.")


def load_unlabelled_images(path: str, image_root: str | None = None, key: str = "SCRATCHDET.DATA.UNLABELLED") -> list[dict]:
    """One dict per image: ``file_name``, ``image_id``, ``height``, ``width`` (no annotations)."""
    dicts = []
    for i, f in enumerate(_files_of(path, image_root, key)):
        if not os.path.isfile(f):
            raise DatasetError(f"{key}: image {f} (listed in {path}) does not exist.")
        h, w = _image_size(f)
        dicts.append({"file_name": f, "image_id": i, "height": h, "width": w})
    return dicts


def register_unlabelled_images(name: str, path: str, image_root: str | None = None) -> None:
    """Register ``name`` as the images of a folder or of a COCO json (labels unused)."""
    DatasetCatalog.register(name, lambda: load_unlabelled_images(path, image_root))
    # registered_by: its loader names the missing folder and the SCRATCHDET.DATA.UNLABELLED key.
    MetadataCatalog.get(name).set(image_root=image_root or path, evaluator_type="", unlabelled=True,
                                  registered_by="scratchdet")
