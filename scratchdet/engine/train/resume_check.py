"""``--resume`` with a config that differs from the one the run started with.

OUTPUT_DIR/config.yaml is the record of the config the run started with (detectron2's
default_setup writes it on a fresh start). On ``--resume`` of a run that has checkpoints:

- a change that cannot apply to the checkpoints (the model's architecture: most MODEL.* keys,
  the optimizer type, the two-phase layout) is refused with one message listing the keys;
- other changes apply from the resumed iteration, stated in the log: the LR schedule (SOLVER.*)
  is the new config's (detectron2 would keep the checkpoint's learning rates and weight decay);
- the record is never overwritten: the resumed config is saved as OUTPUT_DIR/config_resume.yaml.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import yaml
from detectron2.config import CfgNode
from detectron2.utils import comm

from ...config.errors import ConfigError
from ...io.atomic import atomic_open

logger = logging.getLogger(__name__)

RECORD = "config.yaml"
RESUMED = "config_resume.yaml"
PHASE1 = "SCRATCHDET.PHASE1."

# Keys whose change the checkpoints cannot follow: they decide the weights' shapes or meaning,
# the optimizer state's layout, or where the run's checkpoints are.
ARCHITECTURE = ("MODEL.", "SCRATCHDET.DEYO.", "SCRATCHDET.NORM.", "SCRATCHDET.JIGSAW.NUM_CLASSES",
                "SCRATCHDET.SOLVER.OPTIMIZER", "SCRATCHDET.PHASE1.ENABLED")
# ... except these, which do not change the weights: where to load from, the device, and
# training-sampling, loss and test-time settings (by the end of the key's name).
NOT_ARCHITECTURE = ("MODEL.WEIGHTS", "MODEL.DEVICE")
NOT_ARCHITECTURE_ENDINGS = ("_TEST", "_TRAIN", "BATCH_SIZE_PER_IMAGE", "POSITIVE_FRACTION", "LOSS_WEIGHT",
                            "_WEIGHT", "SMOOTH_L1_BETA", "SMOOTH_L1_LOSS_BETA", "FOCAL_LOSS_ALPHA",
                            "FOCAL_LOSS_GAMMA", "FOCAL_ALPHA", "FOCAL_GAMMA", "VARIFOCAL_ALPHA", "NMS_THRESH",
                            "IOU_THRESHOLDS", "IOU_LABELS", "IOU_THRESHOLD", "BOUNDARY_THRESH", "NEG_POS_RATIO",
                            "DROP_PATH_RATE", "LABEL_NOISE_RATIO", "BOX_NOISE_SCALE")
# Keys that say where this run is, not how it trains.
IGNORED = ("OUTPUT_DIR", "MODEL.WEIGHTS", "SCRATCHDET.HANDOVER.SOURCE")


def has_checkpoint(output_dir: str) -> bool:
    """Whether the run in ``output_dir`` wrote a checkpoint (in it, or in a phase's folder)."""
    if os.path.isfile(os.path.join(output_dir, "last_checkpoint")):
        return True
    with contextlib.suppress(OSError):
        return any(os.path.isfile(os.path.join(output_dir, d, "last_checkpoint")) for d in os.listdir(output_dir))
    return False


def config_file_to_write(output_dir: str, resume: bool) -> str:
    """Where a (phase's) config dump goes: the record, unless resuming a run that has one."""
    record = os.path.join(output_dir, RECORD)
    if resume and os.path.isfile(record) and has_checkpoint(output_dir):
        return os.path.join(output_dir, RESUMED)
    return record


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def is_architecture_key(key: str) -> bool:
    key = key.removeprefix(PHASE1) if key != PHASE1 + "ENABLED" else key
    if key in NOT_ARCHITECTURE or not key.startswith(ARCHITECTURE):
        return False
    return not key.endswith(NOT_ARCHITECTURE_ENDINGS)


def config_changes(record: dict, new: dict) -> list[tuple[str, object, object]]:
    """(key, recorded value, new value) of every key that differs. A key of the PHASE1 block is
    compared by its value in phase 1 (the block's, else the config's), and named in the block only
    when the block sets it in either config."""
    old, cur = _flatten(record), _flatten(new)
    changes = []
    for key in sorted(set(old) | set(cur)):
        if key in IGNORED:
            continue
        if key.startswith(PHASE1) and key != PHASE1 + "ENABLED":
            base = key[len(PHASE1):]
            a, b = old.get(key, old.get(base)), cur.get(key, cur.get(base))
        else:
            a, b = old.get(key), cur.get(key)
        if a != b:
            changes.append((key, a, b))
    return changes


def _fmt(changes: list[tuple[str, object, object]]) -> str:
    return ", ".join(f"{k} {a!r} -> {b!r}" for k, a, b in changes)


def check_resume_config(record_text: str, cfg: CfgNode, record_path: str) -> list[tuple[str, object, object]]:
    """Raise :class:`ConfigError` when ``cfg`` changes keys the checkpoints cannot follow;
    return the other changes (they apply from the resumed iteration)."""
    try:
        record = yaml.safe_load(record_text)
    except yaml.YAMLError:
        record = None
    if not isinstance(record, dict):
        raise ConfigError(f"--resume: {record_path}, the record of the config this run started with, is not a "
                          "readable config: restore it, or train in a new OUTPUT_DIR.")
    changes = config_changes(record, yaml.safe_load(cfg.dump()))
    arch = [c for c in changes if is_architecture_key(c[0])]
    if arch:
        out = os.path.dirname(record_path)
        raise ConfigError(
            f"--resume: {', '.join(k for k, _, _ in arch)} changed since this run started ({_fmt(arch)}; "
            f"recorded in {record_path}), and its checkpoints cannot continue with another model or optimizer. "
            f"To train the new config, use a new OUTPUT_DIR; to start it from this run's weights, add "
            f"MODEL.WEIGHTS {os.path.join(out, 'model_final.pth')} (or the last model_*.pth) with a new OUTPUT_DIR "
            "(fine-tuning); to continue this run, resume with its recorded values."
        )
    return changes


@contextlib.contextmanager
def config_record_kept(cfg: CfgNode, resume: bool) -> Iterator[None]:
    """Around detectron2's default_setup, which writes OUTPUT_DIR/config.yaml: on ``--resume`` of a
    run that has checkpoints, compare ``cfg`` with that record first (nothing is written when the
    change is refused), then keep the record and save ``cfg`` as config_resume.yaml."""
    out = cfg.OUTPUT_DIR
    record_path = os.path.join(out, RECORD)
    if not (resume and os.path.isfile(record_path) and has_checkpoint(out)):
        yield
        return
    with open(record_path, encoding="utf-8", errors="replace") as f:
        record_text = f.read()
    changes = check_resume_config(record_text, cfg, record_path)
    yield
    if comm.is_main_process():
        with atomic_open(record_path, "w") as f:
            f.write(record_text)
        with atomic_open(os.path.join(out, RESUMED), "w") as f:
            f.write(cfg.dump())
    if changes:
        logger.warning(f"--resume with a config changed since this run started ({record_path} is kept; this "
                       f"config is saved as {RESUMED}); applied from the resumed iteration: {_fmt(changes)}")


@contextlib.contextmanager
def schedule_of_config(trainer) -> Iterator[None]:
    """Around the loading of a checkpoint by ``trainer.resume_or_load``: when training resumes,
    the optimizer's hyper-parameters (learning rates, weight decay, momentum...) and the LR
    schedule's base rates are the config's, not the checkpoint's; only the optimizer's state
    (momentum buffers) and the iteration come from the checkpoint. A SOLVER.MAX_ITER the
    checkpoint has already passed is refused."""
    optimizer, scheduler = trainer.optimizer, trainer.scheduler
    fresh = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    fresh_base = list(scheduler.base_lrs)
    try:
        yield
    except ValueError as e:  # torch: the checkpoint's parameter groups do not match the optimizer's
        if "parameter group" not in str(e):
            raise
        raise ConfigError(f"--resume: the optimizer's parameter groups differ from the checkpoint's ({e}): a "
                          "SCRATCHDET.SOLVER.* or SOLVER.*_NORM/BIAS key changed how parameters are grouped. Resume "
                          "with the run's recorded values (OUTPUT_DIR/config.yaml), or fine-tune from the "
                          "checkpoint with MODEL.WEIGHTS in a new OUTPUT_DIR.") from None
    if trainer.start_iter == 0:
        return  # nothing resumed: the optimizer was not loaded
    if trainer.start_iter > trainer.max_iter:
        raise ConfigError(
            f"--resume: SOLVER.MAX_ITER={trainer.max_iter} but the checkpoint in {trainer.cfg.OUTPUT_DIR} is already "
            f"at iteration {trainer.start_iter}: set SOLVER.MAX_ITER above {trainer.start_iter} to train longer, "
            "or evaluate it with --eval-only."
        )
    before = [g["lr"] for g in optimizer.param_groups]
    for group, own in zip(optimizer.param_groups, fresh):
        group.update(own)
    scheduler.base_lrs = fresh_base
    for group, lr in zip(optimizer.param_groups, scheduler.get_lr()):
        group["lr"] = lr
    after = [g["lr"] for g in optimizer.param_groups]
    if any(abs(a - b) > 1e-12 * max(abs(a), abs(b), 1e-30) for a, b in zip(before, after)):
        logger.warning(f"Resumed at iteration {trainer.start_iter} with the config's schedule: learning rate "
                       f"{after[0]:.6g} (the checkpoint's was {before[0]:.6g}).")
