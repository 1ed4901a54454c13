"""OUTPUT_DIR problems, a full disk while saving, what killed saves leave behind, and the message
of a diverged training, through train_net.py (in-process)."""

import errno
import os
import tempfile

import pytest
import torch

from scratchdet.io import atomic
from tests.conftest import assert_user_error, train_demo


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=False)


# ---------------------------------------------------------------- OUTPUT_DIR
def test_output_dir_that_is_a_file(tmp_path):
    f = tmp_path / "run"
    f.write_text("my notes")
    code, err = train_demo(f)
    assert_user_error(code, err, "OUTPUT_DIR", str(f), "is a file")
    assert f.read_text() == "my notes"


def test_output_dir_below_a_file(tmp_path):
    f = tmp_path / "run"
    f.write_text("my notes")
    code, err = train_demo(f / "sub")
    assert_user_error(code, err, "OUTPUT_DIR", str(f / "sub"))
    assert f.read_text() == "my notes"


@pytest.mark.parametrize("err_no", [errno.EROFS, errno.EACCES])
def test_output_dir_that_cannot_be_written(tmp_path, monkeypatch, err_no):
    """A read-only folder (simulated: the tests may run as root, whom chmod does not stop)."""
    out = tmp_path / "ro"
    out.mkdir()

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and os.path.abspath(dir) == str(out):
            raise OSError(err_no, os.strerror(err_no), str(out))
        return real(*args, dir=dir, **kwargs)

    real = tempfile.TemporaryFile
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    code, err = train_demo(out)
    assert_user_error(code, err, "OUTPUT_DIR", "cannot be written")
    assert os.listdir(out) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_dir_read_only_for_real(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        code, err = train_demo(out)
    finally:
        out.chmod(0o755)
    assert_user_error(code, err, "OUTPUT_DIR")


# ---------------------------------------------------------------- a full disk while saving
def _full_disk_at_save(monkeypatch, n, how):
    """The ``n``-th checkpoint save (0-based) finds the disk full, ``how``: torch.save raising,
    the file's write() raising inside torch.save (torch wraps it in a RuntimeError), or writing
    last_checkpoint failing."""
    calls = {"torch": 0, "save": 0, "tag": 0}
    real_save, real_fdopen = torch.save, os.fdopen

    def save(obj, f, *a, **k):
        calls["torch"] += 1
        if how == "torch_save" and calls["torch"] == n + 1:
            f.write(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *a, **k)

    class FullFile:
        def __init__(self, f, limit):
            self._f, self._left = f, limit

        def write(self, data):
            self._left -= len(data)
            if self._left < 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self._f.write(data)

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._f.__exit__(*exc)

    def fdopen(fd, mode="r", *a, **k):
        f = real_fdopen(fd, mode, *a, **k)
        if "w" not in mode:
            return f
        kind = "save" if "b" in mode else "tag"
        calls[kind] += 1
        if how == "write" and kind == "save" and calls["save"] == n + 1:
            return FullFile(f, 4096)
        if how == "tag" and kind == "tag" and calls["tag"] == n + 1:
            return FullFile(f, 0)
        return f

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(atomic.os, "fdopen", fdopen)


@pytest.mark.parametrize("how", ["torch_save", "write", "tag"])
def test_full_disk_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch, how):
    _full_disk_at_save(monkeypatch, 1, how)
    code, err = train_demo(tmp_path)
    first = assert_user_error(code, err, "checkpoint", "No space left on device")
    assert "model_0000000.pth" in first  # the checkpoint that is intact, named
    assert _load(tmp_path / "model_0000000.pth")["iteration"] == 0
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000000.pth"
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    if how != "tag":  # else the new checkpoint is complete; only its tag could not be written
        assert not (tmp_path / "model_final.pth").exists()
    monkeypatch.undo()
    # and --resume continues from the intact checkpoint
    code, err = train_demo(tmp_path, resume=True)
    assert code == 0, err
    assert _load(tmp_path / "model_final.pth")["iteration"] == 1


def test_full_disk_at_the_first_save_says_none_was_written(tmp_path, monkeypatch):
    _full_disk_at_save(monkeypatch, 0, "torch_save")
    code, err = train_demo(tmp_path)
    first = assert_user_error(code, err, "model_0000000.pth", "No space left on device")
    assert "no checkpoint of this run was written" in first
    assert not [f for f in os.listdir(tmp_path) if f.endswith((".pth", ".tmp"))]


def test_full_disk_elsewhere_is_one_line(tmp_path, monkeypatch):
    """Any other write that finds the disk full (here the results file) ends with one line too."""
    from scratchdet.engine.run import runner

    def full(output_dir, results, name):
        path = os.path.join(output_dir, name)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(runner, "save_results", full)
    code, err = train_demo(tmp_path)
    assert_user_error(code, err, "No space left on device", "final_results.json")
    assert _load(tmp_path / "model_final.pth")["iteration"] == 1


# ---------------------------------------------------------------- what killed saves leave
def test_next_start_removes_temporary_files_of_killed_saves(tmp_path):
    stale = [tmp_path / ".model_0000004.pth.k2j4l1x9.tmp", tmp_path / ".last_checkpoint.a8b7c6d5.tmp",
             tmp_path / "phase1" / ".model_final.pth.zz_11yy2.tmp"]
    keep = [tmp_path / "notes.tmp", tmp_path / ".hidden.tmp", tmp_path / "model_0000003.pth"]
    (tmp_path / "phase1").mkdir()
    for f in stale + keep:
        f.write_bytes(b"x" * 10)
    # any start does it, even one that stops at a config error
    code, err = train_demo(tmp_path, "SOLVER.MAX_ITER", "0")
    assert_user_error(code, err, "SOLVER.MAX_ITER")
    assert not any(f.exists() for f in stale)
    assert all(f.exists() for f in keep)


# ---------------------------------------------------------------- a diverged training
def _nan_loss_from_iteration(monkeypatch, start):
    from detectron2.modeling.meta_arch.rcnn import GeneralizedRCNN

    real = GeneralizedRCNN.forward
    calls = {"n": 0}

    def forward(self, batched_inputs):
        out = real(self, batched_inputs)
        if self.training:
            calls["n"] += 1
            if calls["n"] > start:
                out = {k: v * float("nan") for k, v in out.items()}
        return out

    monkeypatch.setattr(GeneralizedRCNN, "forward", forward)


def test_divergence_before_any_checkpoint_promises_none(tmp_path, monkeypatch):
    _nan_loss_from_iteration(monkeypatch, 0)
    with pytest.raises(FloatingPointError) as e:
        train_demo(tmp_path)
    assert "No checkpoint was written before it diverged" in str(e.value)
    assert "last good checkpoint" not in str(e.value)


def test_divergence_after_a_checkpoint_names_it(tmp_path, monkeypatch):
    _nan_loss_from_iteration(monkeypatch, 1)
    with pytest.raises(FloatingPointError) as e:
        train_demo(tmp_path)
    assert "model_0000000.pth" in str(e.value) and "SOLVER.BASE_LR" in str(e.value)
