import os

import pytest
import torch
from torch import nn

from scratchdet.checkpoint import CheckpointError, CheckpointMismatchError, ScratchCheckpointer


class Net(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.a = nn.Linear(3, width)
        self.b = nn.Linear(width, 2)


def test_save_and_load_roundtrip(tmp_path):
    m = Net()
    ScratchCheckpointer(m, str(tmp_path)).save("model_x")
    assert open(tmp_path / "last_checkpoint").read() == "model_x.pth"
    m2 = Net()
    ScratchCheckpointer(m2, str(tmp_path)).load(str(tmp_path / "model_x.pth"))
    assert torch.equal(m.a.weight, m2.a.weight)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    m = Net()
    ck = ScratchCheckpointer(m, str(tmp_path))
    ck.save("model_final")
    before = open(tmp_path / "model_final.pth", "rb").read()

    def killed(obj, f, *a, **k):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with torch.no_grad():
        m.a.weight.add_(1)
    with pytest.raises(KeyboardInterrupt):
        ck.save("model_final")
    assert open(tmp_path / "model_final.pth", "rb").read() == before
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_checkpoint_of_another_model_is_refused(tmp_path):
    ScratchCheckpointer(nn.Sequential(nn.Linear(3, 3)), str(tmp_path)).save("other")
    with pytest.raises(CheckpointError, match=r"other.pth matches only 0% of the model's weights \(0 of 4 tensors"):
        ScratchCheckpointer(Net(), str(tmp_path)).load(str(tmp_path / "other.pth"))


def test_shape_mismatch_counts_as_missing(tmp_path):
    ScratchCheckpointer(Net(width=5), str(tmp_path)).save("wide")
    with pytest.raises(CheckpointMismatchError, match=r"matches only 8% .*\(1 of 4 tensors") as info:  # b.bias: 2 of 26
        ScratchCheckpointer(Net(width=4), str(tmp_path)).load(str(tmp_path / "wide.pth"))
    # The refusal carries the load's report: callers can name the tensors without reading the file again.
    assert dict(info.value.report["reinitialized"]) == {"a.weight": "shape (5, 3) != (4, 3)", "a.bias": "shape (5,) != (4,)",
                                                       "b.weight": "shape (2, 5) != (2, 4)"}
    # allowed partially when asked
    ScratchCheckpointer(Net(width=4), str(tmp_path), min_matched_fraction=0.0).load(str(tmp_path / "wide.pth"))


def test_truncated_or_missing_checkpoint(tmp_path):
    p = tmp_path / "trunc.pth"
    ScratchCheckpointer(Net(), str(tmp_path)).save("trunc")
    p.write_bytes(p.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="trunc.pth"):
        ScratchCheckpointer(Net(), str(tmp_path)).load(str(p))
    with pytest.raises(CheckpointError, match="Checkpoint not found: .*nope.pth"):
        ScratchCheckpointer(Net(), str(tmp_path)).load(str(tmp_path / "nope.pth"))


def test_saved_files_have_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        ScratchCheckpointer(Net(), str(tmp_path)).save("perm")
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / "perm.pth").st_mode & 0o777) == oct(0o644)
