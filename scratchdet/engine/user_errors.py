"""Errors a user can act on end the command with exit code 2 and their message as the first line
of stderr, printed once, in one process or in several (``--num-gpus N``): not a stack trace, nor
torch's ProcessExitedException."""

from __future__ import annotations

import errno
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import torch.multiprocessing as mp
from detectron2.engine import launch
from detectron2.utils import comm

from ..checkpoint import CheckpointError
from ..config.errors import ConfigError
from ..data.datasets import DatasetError

USER_ERRORS = (ConfigError, DatasetError, CheckpointError)
# Disk problems a user fixes outside the program.
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}
EXIT_CODE = 2
# Set by the launching process: where the training processes leave their message for it to print.
ERROR_DIR_ENV = "SCRATCHDET_USER_ERROR_DIR"


def user_error_message(e: BaseException) -> str | None:
    """The message of an error the user can act on, with the problem on its first line; None for
    other errors (bugs keep their stack trace)."""
    if isinstance(e, USER_ERRORS):
        msg = str(e).strip()
    elif isinstance(e, OSError) and e.errno in DISK_ERRNOS:
        where = f": {e.filename}" if e.filename else ""
        msg = (f"{e.strerror}{where}. Free space on that disk (or give write permission), then run again "
               "(--resume continues from the last checkpoint, if one was written).")
    else:
        return None
    lines = msg.splitlines() or [type(e).__name__]
    # "Invalid config:\n  - KEY ..." -> the first item on the first line.
    if len(lines) > 1 and lines[0].rstrip().endswith(":"):
        lines = [f"{lines[0].rstrip()} {lines[1].strip().removeprefix('- ')}", *lines[2:]]
    return "\n".join(lines)


def _print(message: str) -> None:
    sys.stdout.flush()
    print(f"scratchdet: error: {message}", file=sys.stderr, flush=True)


def run_reporting_user_errors(main: Callable[[Any], Any], args: Any) -> None:
    """Run ``main(args)`` in this process; a user error ends it with exit code 2 after its message
    (left for the launching process to print when there are several processes)."""
    try:
        main(args)
    except Exception as e:
        message = user_error_message(e)
        if message is None:
            raise
        if not _leave_for_launcher(message):
            _print(message)
        sys.exit(EXIT_CODE)


def _leave_for_launcher(message: str) -> bool:
    error_dir = os.environ.get(ERROR_DIR_ENV)
    if not error_dir or comm.get_world_size() <= 1:
        return False
    path = os.path.join(error_dir, f"rank{comm.get_rank():05d}")
    try:
        with open(path + ".part", "w") as f:
            f.write(message)
        os.replace(path + ".part", path)  # the launcher never reads half a message
    except OSError:
        return False
    return True


def launch_reporting_user_errors(run: Callable[[Any], None], args: Any) -> None:
    """detectron2's ``launch(run, args.num_gpus, ...)``; when a training process ends with a user
    error, its message is printed once here and the command exits with code 2."""
    world_size = args.num_gpus * args.num_machines
    if world_size <= 1:
        launch(run, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
               dist_url=args.dist_url, args=(args,))
        return
    error_dir = tempfile.mkdtemp(prefix="scratchdet-errors-")
    os.environ[ERROR_DIR_ENV] = error_dir  # the spawned processes inherit it
    try:
        launch(run, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
               dist_url=args.dist_url, args=(args,))
    except mp.ProcessExitedException as e:
        messages = []
        for name in sorted(n for n in os.listdir(error_dir) if not n.endswith(".part")):
            with open(os.path.join(error_dir, name)) as f:
                message = f.read()
            if message not in messages:
                messages.append(message)
        if e.exit_code != EXIT_CODE or not messages:
            raise
        for message in messages:
            _print(message)
        sys.exit(EXIT_CODE)
    finally:
        os.environ.pop(ERROR_DIR_ENV, None)
        shutil.rmtree(error_dir, ignore_errors=True)
