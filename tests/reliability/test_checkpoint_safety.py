"""A checkpoint never runs code when it is read, and a file that is not a usable checkpoint is
one clear line naming the file (and, for a pickle, the opt-in key SCRATCHDET.CHECKPOINT.ALLOW_PICKLE)."""

import os
import pickle

import numpy as np
import pytest
import torch
from detectron2.engine import default_argument_parser
from torch import nn

import train_net
from scratchdet.checkpoint import ALLOW_PICKLE_KEY, CheckpointError, ScratchCheckpointer
from tests.conftest import DEMO_CONFIG, TINY_OPTS


class Net(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.a = nn.Linear(3, width)
        self.b = nn.Linear(width, 2)


class MakesMarker:
    """Unpickling this object creates the file ``path`` (what a crafted checkpoint would do)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _crafted_pth(folder, marker):
    path = os.path.join(folder, "crafted.pth")
    torch.save({"model": Net().state_dict(), "payload": MakesMarker(marker)}, path)
    return path


def _crafted_pkl(folder, marker):
    path = os.path.join(folder, "crafted.pkl")
    with open(path, "wb") as f:  # detectron2 model-zoo layout, with a payload
        pickle.dump({"model": {k: v.numpy() for k, v in Net().state_dict().items()}, "__author__": "x",
                     "payload": MakesMarker(marker)}, f)
    return path


def _load(path, **kw):
    return ScratchCheckpointer(Net(), **kw).load(str(path), checkpointables=[])


def _bad_inputs(tmp_path):
    """(name, path, what the message must say) for files that are not usable checkpoints."""
    good = tmp_path / "good.pth"
    torch.save({"model": Net().state_dict()}, good)
    cases = []
    p = tmp_path / "random.pth"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    cases.append(("random bytes", p, "truncated or not a PyTorch checkpoint"))
    p = tmp_path / "notes.pth"
    p.write_text("MODEL:\n  WEIGHTS: this is a yaml file, not a checkpoint\n")
    cases.append(("text file", p, "truncated or not a PyTorch checkpoint"))
    p = tmp_path / "empty.pth"
    p.write_bytes(b"")
    cases.append(("empty file", p, "is empty"))
    p = tmp_path / "truncated.pth"
    p.write_bytes(good.read_bytes()[:200])
    cases.append(("truncated", p, "truncated or not a PyTorch checkpoint"))
    p = tmp_path / "other_model.pth"
    torch.save({"model": nn.Sequential(nn.Conv2d(3, 8, 3)).state_dict()}, p)
    cases.append(("state dict of another model", p, "matches only 0% of the model's weights"))
    p = tmp_path / "a_dir.pth"
    p.mkdir()
    cases.append(("directory", p, "is a directory"))
    p = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), p)
    cases.append(("a bare tensor", p, "holds a Tensor, not a state dict"))
    p = tmp_path / "numbers.pth"
    torch.save({"model": {"a.weight": 1, "a.bias": [2]}}, p)
    cases.append(("state dict of numbers", p, "is not a state dict of tensors"))
    p = tmp_path / "wide.pth"
    torch.save({"model": Net(width=9).state_dict()}, p)
    cases.append(("same names, other shapes", p, "matches only"))
    cases.append(("missing file", tmp_path / "nope.pth", "Checkpoint not found"))
    return cases


def test_bad_checkpoint_inputs_give_one_clear_line(tmp_path):
    cases = _bad_inputs(tmp_path)
    assert len(cases) >= 8
    for name, path, message in cases:
        with pytest.raises(CheckpointError) as e:
            _load(path)
        text = str(e.value)
        assert str(path) in text.splitlines()[0], name
        assert message in text, f"{name}: {text}"
        assert "Traceback" not in text and len(text.splitlines()) == 1, name


@pytest.mark.parametrize("make", [_crafted_pth, _crafted_pkl], ids=["pth", "pkl"])
def test_crafted_checkpoint_runs_no_code(tmp_path, make):
    marker = tmp_path / "pwned"
    path = make(str(tmp_path), str(marker))
    with pytest.raises(CheckpointError) as e:
        _load(path)
    assert not marker.exists()
    assert path in str(e.value) and ALLOW_PICKLE_KEY in str(e.value)


@pytest.mark.parametrize("make", [_crafted_pth, _crafted_pkl], ids=["pth", "pkl"])
def test_model_weights_through_train_net_runs_no_code(tmp_path, make, capsys):
    """The real entry point (in-process): MODEL.WEIGHTS of a crafted file exits 2 with the message,
    and the file's code never ran."""
    marker = tmp_path / "pwned"
    path = make(str(tmp_path), str(marker))
    args = default_argument_parser().parse_args(
        ["--config-file", DEMO_CONFIG, "--eval-only", *TINY_OPTS, "MODEL.WEIGHTS", path, "OUTPUT_DIR", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as e:
        train_net.run(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"scratchdet: error: Refusing to load checkpoint {path}") and ALLOW_PICKLE_KEY in err[-1]
    assert not marker.exists()


def test_legacy_pickle_loads_when_explicitly_allowed(tmp_path):
    src = Net()
    path = tmp_path / "zoo.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in src.state_dict().items()}, "__author__": "trusted"}, f)
    with pytest.raises(CheckpointError, match=ALLOW_PICKLE_KEY):
        _load(path)
    dst = Net()
    ScratchCheckpointer(dst, allow_pickle=True).load(str(path), checkpointables=[])
    assert torch.equal(dst.a.weight, src.a.weight)


def test_own_training_checkpoint_loads_safely(tmp_path):
    """What a scratchdet training saves (model, optimizer, scheduler, iteration, numpy numbers
    from hooks) is read with weights_only=True."""
    from detectron2.solver import build_lr_scheduler

    from scratchdet.config import get_scratchdet_cfg

    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.a.weight.sum().backward()
    opt.step()
    cfg = get_scratchdet_cfg()
    sched = build_lr_scheduler(cfg, opt)
    ck = ScratchCheckpointer(model, str(tmp_path), optimizer=opt, scheduler=sched)
    ck.save("model_0000009", iteration=9, best={"value": np.float64(0.5), "iter": np.int64(9)})
    model2, opt2 = Net(), torch.optim.SGD(Net().parameters(), lr=0.1, momentum=0.9)
    ck2 = ScratchCheckpointer(model2, str(tmp_path), optimizer=opt2, scheduler=build_lr_scheduler(cfg, opt2))
    extra = ck2.resume_or_load("", resume=True)
    assert extra["iteration"] == 9 and extra["best"]["value"] == 0.5
    assert torch.equal(model2.a.weight, model.a.weight)


def test_pyth_and_teacher_refuse_pickles(tmp_path):
    """pycls' .pyth files are pickles too; the self-training teacher reads through the same safe loader."""
    from scratchdet.engine.run.self_training import load_teacher

    marker = str(tmp_path / "code_ran")
    pyth = tmp_path / "crafted.pyth"
    torch.save({"model": Net().state_dict(), "payload": MakesMarker(marker)}, pyth)
    with pytest.raises(CheckpointError, match=rf"crafted.pyth.*{ALLOW_PICKLE_KEY}"):
        _load(pyth)
    with pytest.raises(CheckpointError, match=rf"crafted.pth.*{ALLOW_PICKLE_KEY}"):
        load_teacher(Net(), _crafted_pth(str(tmp_path), marker))
    assert not os.path.exists(marker)
