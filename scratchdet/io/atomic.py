"""Writes that never leave a half-written file: write to a temporary file beside the target,
then rename it over the target (atomic on POSIX file systems)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb") -> Iterator[IO]:
    """Like ``open(path, mode)`` for writing, but the file appears at ``path`` only once it is
    complete; an exception (or a kill) leaves any previous file untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    # mkstemp makes the file private (0600); give it the permissions open() would (0666 - umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_write_json(obj: object, path: str) -> None:
    with atomic_open(path, "w") as f:
        json.dump(obj, f)
