"""No checkpoint runs code when it is read: a crafted pickle is refused (and its code never runs)
through MODEL.WEIGHTS, the hand-over source and a teacher; other files that are not checkpoints
get one message naming the file."""

import argparse
import os
import pickle

import pytest
import torch
from detectron2.modeling import build_model

from scratchdet.checkpoint import CheckpointError, ScratchCheckpointer, load_source_state_dict
from scratchdet.engine.self_training import load_teacher
from tests.conftest import DEMO_CONFIG, TINY_OPTS, run_train_net


class _Evil:
    """Unpickling this creates the marker file: what a crafted checkpoint would do."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _crafted(tmp_path, name="evil.pth"):
    marker = str(tmp_path / "code_ran")
    path = tmp_path / name
    with open(path, "wb") as f:
        if name.endswith(".pkl"):
            pickle.dump({"model": {}, "x": _Evil(marker)}, f)
        else:
            torch.save({"model": {"w": torch.zeros(1)}, "x": _Evil(marker)}, f)
    return str(path), marker


def _model(tiny_cfg):
    return build_model(tiny_cfg())


@pytest.mark.parametrize("name", ["evil.pth", "evil.pkl", "evil.pyth"])
def test_model_weights_refuses_pickles_without_running_them(tmp_path, tiny_cfg, name):
    path, marker = _crafted(tmp_path, name)
    with pytest.raises(CheckpointError, match=rf"{name}.*refused.*SCRATCHDET.CHECKPOINT.ALLOW_PICKLE True"):
        ScratchCheckpointer(_model(tiny_cfg)).load(path)
    assert not os.path.exists(marker)


@pytest.mark.parametrize("name", ["evil.pth", "evil.pkl"])
def test_handover_source_and_teacher_refuse_pickles(tmp_path, tiny_cfg, name):
    path, marker = _crafted(tmp_path, name)
    with pytest.raises(CheckpointError, match=rf"{name}.*ALLOW_PICKLE"):
        load_source_state_dict(path)
    if name.endswith(".pth"):
        with pytest.raises(CheckpointError, match=rf"{name}.*ALLOW_PICKLE"):
            load_teacher(_model(tiny_cfg), path)
    assert not os.path.exists(marker)


def test_the_opt_in_reads_a_trusted_pickle(tmp_path, tiny_cfg):
    model = _model(tiny_cfg)
    path = tmp_path / "trusted.pth"
    # An argparse Namespace (as some training scripts save their args): not a plain value.
    torch.save({"model": model.state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(CheckpointError, match="ALLOW_PICKLE"):
        ScratchCheckpointer(model).load(str(path))
    ScratchCheckpointer(model, allow_pickle=True).load(str(path))


@pytest.mark.parametrize("content", [b"", b"hello, I am text\n", os.urandom(2048), b"PK\x03\x04" + os.urandom(100)])
def test_files_that_are_not_checkpoints_name_the_file(tmp_path, tiny_cfg, content):
    path = tmp_path / "not_a_checkpoint.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not_a_checkpoint.pth"):
        ScratchCheckpointer(_model(tiny_cfg)).load(str(path))
    with pytest.raises(CheckpointError, match="not_a_checkpoint.pth"):
        load_source_state_dict(str(path))


def test_a_directory_and_a_truncated_checkpoint(tmp_path, tiny_cfg):
    model = _model(tiny_cfg)
    with pytest.raises(CheckpointError, match="Checkpoint not found"):
        ScratchCheckpointer(model).load(str(tmp_path))
    good = tmp_path / "good.pth"
    torch.save({"model": model.state_dict()}, good)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.pth"):
        ScratchCheckpointer(model).load(str(cut))


def test_train_net_exits_2_and_the_code_never_runs(tmp_path):
    path, marker = _crafted(tmp_path)
    proc = run_train_net(["--config-file", DEMO_CONFIG, "--eval-only", *TINY_OPTS, "MODEL.WEIGHTS", path,
                          "OUTPUT_DIR", str(tmp_path / "out"), "DATASETS.TEST", "()"], check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "evil.pth" in proc.stderr and "ALLOW_PICKLE" in proc.stderr
    assert not os.path.exists(marker)
