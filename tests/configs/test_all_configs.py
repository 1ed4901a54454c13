"""Every shipped config loads, passes its checks and builds; paper-size configs run an inference
forward pass on a small image, CPU-size configs (``*_cpu.yaml``) also run a training step on the
embedded data with finite losses (DensePose-style)."""

import glob
import os

import pytest
import torch
from detectron2.utils.events import EventStorage

from scratchdet.config import load_config_file
from scratchdet.engine import Trainer
from scratchdet.engine.run.phases import phase1_config
from scratchdet.engine.setup.checks import check_run_config
from scratchdet.engine.setup.plan import plan_phase, register_run_datasets, resolve_class_counts
from tests.conftest import REPO

CONFIGS = sorted(
    p for p in glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)
    + glob.glob(os.path.join(REPO, "projects", "*", "configs", "**", "*.yaml"), recursive=True)
    if not os.path.basename(p).startswith("Base-")
)
CPU_CONFIGS = [p for p in CONFIGS if p.endswith("_cpu.yaml") or "/Demo/" in p]


def _id(p):
    return os.path.relpath(p, REPO)


def _small(cfg_path, *opts):
    return load_config_file(cfg_path, ["MODEL.DEVICE", "cpu", *opts])


@pytest.mark.parametrize("path", CONFIGS, ids=_id)
def test_config_builds_and_runs_inference(path):
    # No square padding to the paper size (1024 for ViTDet): the forward pass stays small.
    cfg = _small(path, "MODEL.SFP.SQUARE_PAD", "0")
    # The set-up step's checks and class counts, without the data (paper datasets are not here:
    # their classes come from detectron2's metadata).
    check_run_config(cfg, world_size=8, training=False)
    cfg = resolve_class_counts(cfg, check=False)
    model = Trainer.build_model(cfg).eval()
    image = torch.randint(0, 255, (3, 128, 160), dtype=torch.uint8).float()
    with torch.no_grad():
        out = model([{"image": image, "height": 128, "width": 160}])
    assert len(out) == 1 and isinstance(out[0], dict)
    if cfg.SCRATCHDET.PHASE1.ENABLED:  # the pre-training phase's model builds too
        Trainer.build_model(resolve_class_counts(phase1_config(cfg), check=False))


def _phases(path):
    cfg = _small(path)
    return ["main", "phase1"] if cfg.SCRATCHDET.PHASE1.ENABLED else ["main"]


@pytest.mark.parametrize("path,phase", [(p, ph) for p in CPU_CONFIGS for ph in _phases(p)],
                         ids=lambda x: _id(x) if os.path.sep in str(x) else x)
def test_cpu_config_trains_one_step(path, phase, tmp_path):
    cfg = _small(path, "SOLVER.IMS_PER_BATCH", "2", "DATALOADER.NUM_WORKERS", "0", "OUTPUT_DIR", str(tmp_path),
                 "SCRATCHDET.PHASE1.SOLVER.IMS_PER_BATCH", "2")
    if phase == "phase1":
        cfg = phase1_config(cfg)
    register_run_datasets(cfg)
    planned = plan_phase(cfg, world_size=1, training=True)
    cfg = planned.cfg
    model = Trainer.build_model(cfg).train()
    batch = next(iter(Trainer.build_train_loader(cfg, planned.train_dicts)))
    with EventStorage():
        losses = model(batch)
    total = sum(losses.values())
    assert torch.isfinite(total), losses
    total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
