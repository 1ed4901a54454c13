"""Writes that never leave a half-written file: write to a temporary file beside the target,
then rename it over the target (atomic on POSIX file systems)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from typing import IO, Any

# The temporary files atomic_open makes: ".<target name>.<8 random characters>.tmp".
TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


class _WriteErrors:
    """A file whose write() remembers the OSError it raised: torch.save, for one, reports a failed
    write (a full disk) as a RuntimeError about a file position."""

    def __init__(self, f: IO):
        self._f = f
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._f.write(data)
        except OSError as e:
            self.error = e
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


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
    recorder = None
    try:
        with os.fdopen(fd, mode) as f:
            recorder = _WriteErrors(f)
            yield recorder
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if recorder is not None and recorder.error is not None and not isinstance(e, OSError):
            raise recorder.error from e  # the real cause (e.g. ENOSPC), not the writer's wrapping of it
        raise


def remove_stale_temporaries(directory: str) -> list[str]:
    """Remove the temporary files that saves killed mid-way (kill -9, power loss) left in
    ``directory`` and its sub-folders one level down; returns their paths. Run it only when no
    save is running in that directory (before training starts)."""
    removed = []
    folders = [directory]
    with contextlib.suppress(OSError):
        folders += [e.path for e in os.scandir(directory) if e.is_dir(follow_symlinks=False)]
    for folder in folders:
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                if TEMPORARY.match(entry.name) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(entry.path)
                        removed.append(entry.path)
    return removed


def atomic_write_json(obj: object, path: str) -> None:
    with atomic_open(path, "w") as f:
        json.dump(obj, f)
