"""Evaluation results written next to the checkpoints, as json."""

from __future__ import annotations

import json
import logging
import os

from detectron2.utils import comm

from ..io.atomic import atomic_write_json


def save_results(output_dir: str, results: dict | None, name: str) -> str | None:
    """Write ``results`` (detectron2's nested dict of metrics) to ``output_dir/name`` (main process)."""
    if not comm.is_main_process() or not results:
        return None
    path = os.path.join(output_dir, name)
    # NaN (e.g. APl without large objects) is kept as json's NaN, as detectron2's metrics.json does.
    atomic_write_json(json.loads(json.dumps(results, default=float)), path)
    logging.getLogger(__name__).info(f"Evaluation results saved to {path}")
    return path
