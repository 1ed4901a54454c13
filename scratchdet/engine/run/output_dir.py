"""OUTPUT_DIR checked before anything is written to it, and cleaned of what killed saves left."""

from __future__ import annotations

import os
import tempfile

from ...config.errors import ConfigError
from ...io.atomic import remove_stale_temporaries


def prepare_output_dir(output_dir: str, main_process: bool = True) -> list[str]:
    """Create ``output_dir`` and check that files can be written in it, with one message naming
    OUTPUT_DIR otherwise (detectron2 would fail deep in its logger set-up). On the main process,
    remove the temporary files of saves killed mid-way; returns their paths."""
    if not output_dir:
        return []
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ConfigError(f"OUTPUT_DIR={output_dir} is a file, not a folder: give a folder for the run's "
                          "checkpoints, logs and results (OUTPUT_DIR path/to/run).")
    try:
        os.makedirs(output_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):
            pass
    except OSError as e:
        raise ConfigError(f"OUTPUT_DIR={output_dir} cannot be written ({e.strerror or e}): give a folder you can "
                          "write to (OUTPUT_DIR path/to/run).") from None
    return remove_stale_temporaries(output_dir) if main_process else []
