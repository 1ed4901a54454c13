"""SCRATCHDET.CPU.COMPILE "backbone": the trained model's backbone compiled in place (torch.compile),
its state_dict keys and checkpoints as without it (they load into an uncompiled model), the EMA's
copy eager; training steps and eval-mode inference at two image sizes run compiled; a bad value, a
model without backbone and a machine without C++ compiler are config errors naming the key."""

import math

import pytest
import torch
from torch._dynamo.utils import counters

from scratchdet.config import ConfigError
from scratchdet.engine import Trainer, check_run_config
from scratchdet.engine.train.compile import compile_model, inductor_cpu_missing

# Box-only R18-FPN at 96-128 px, no evaluation data; the EMA on (its copy must stay eager).
OPTS = ["MODEL.MASK_ON", "False", "SCRATCHDET.CPU.COMPILE", "backbone", "SCRATCHDET.EMA.ENABLED", "True",
        "SOLVER.STEPS", "()", "SOLVER.CHECKPOINT_PERIOD", "100000", "SCRATCHDET.VIS.NUM_IMAGES", "0",
        "DATASETS.TEST", "()", "SCRATCHDET.VAL_LOSS.ENABLED", "False"]

_MISSING = inductor_cpu_missing()
needs_inductor = pytest.mark.skipif(
    bool(_MISSING), reason=f"torch.compile's inductor needs {_MISSING} to build CPU kernels; tools/install.sh and "
    "CI install neither (the machine must have them)")


@pytest.fixture
def traced_not_built(monkeypatch):
    """Dynamo traces as in a real run (graphs, breaks, dynamic shapes, autograd), but the graphs run
    through aot_eager instead of inductor's C++ build, which takes minutes on 2 cores (the real
    build is what bench/cpu_minute.py --option compile times)."""
    compile_ = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compile_(self, backend="aot_eager", **kw))


def _compiled(module: torch.nn.Module) -> bool:
    return module._compiled_call_impl is not None  # what nn.Module.compile sets


@needs_inductor  # the Trainer checks for the compiler; nothing compiles before the first forward
def test_backbone_compiled_in_place_with_the_same_keys(tiny_cfg, tmp_path):
    trainer = Trainer(tiny_cfg(*OPTS, "OUTPUT_DIR", str(tmp_path)))
    model = trainer.model
    assert _compiled(model.backbone) and not _compiled(model) and not _compiled(model.roi_heads)
    assert not _compiled(trainer.ema.module.backbone)  # the EMA's copy runs eagerly
    eager = Trainer.build_model(trainer.cfg)  # --eval-only, export, the predictor: not compiled
    assert not _compiled(eager.backbone)
    assert list(model.state_dict()) == list(eager.state_dict())  # no "_orig_mod." prefix
    assert not any("_orig_mod" in k for k in model.state_dict())


def test_what_cannot_compile_is_a_config_error(monkeypatch):
    with pytest.raises(ConfigError, match=r"Invalid config: SCRATCHDET.CPU.COMPILE='backbone': this model \(Linear\)"):
        compile_model(torch.nn.Linear(2, 2), "backbone")
    net = torch.nn.Linear(2, 2)
    assert compile_model(net, "") is net and not _compiled(net)
    monkeypatch.setenv("CXX", "no-such-c++")
    net.backbone = torch.nn.Linear(2, 2)
    with pytest.raises(ConfigError, match=r"SCRATCHDET.CPU.COMPILE='backbone' on CPU needs a C\+\+ compiler \(no-such-c\+\+"):
        compile_model(net, "backbone", "cpu")
    assert not _compiled(net.backbone)


def test_invalid_value_is_a_config_error(tiny_cfg):
    with pytest.raises(ConfigError, match=r"Invalid config: SCRATCHDET.CPU.COMPILE='model': use '' \(off\) or 'backbone'"):
        check_run_config(tiny_cfg("SCRATCHDET.CPU.COMPILE", "model"))
    check_run_config(tiny_cfg("SCRATCHDET.CPU.COMPILE", "backbone"))
    check_run_config(tiny_cfg("SCRATCHDET.CPU.COMPILE", ""))


@needs_inductor
def test_compiled_training_steps_and_checkpoint_keys(tiny_cfg, tmp_path, traced_not_built):
    counters.clear()
    trainer = Trainer(tiny_cfg(*OPTS, "SOLVER.MAX_ITER", "2", "OUTPUT_DIR", str(tmp_path)))
    trainer.resume_or_load(resume=False)
    trainer.train()
    losses = trainer.storage.history("total_loss").values()
    assert len(losses) == 2 and all(math.isfinite(v) for v, _ in losses)
    assert counters["stats"]["unique_graphs"] >= 1  # compiled, not silently eager
    assert not counters["graph_break"], f"the backbone's graph breaks: {dict(counters['graph_break'])}"
    # A compiled run's checkpoint has an uncompiled run's keys and loads into an eager model.
    final = torch.load(tmp_path / "model_final.pth", weights_only=True)
    eager = Trainer.build_model(trainer.cfg)
    assert set(final["model"]) == set(final["raw_model"]) == set(eager.state_dict())
    eager.load_state_dict(final["raw_model"])  # strict


@needs_inductor
def test_compiled_backbone_in_eval_mode_at_two_image_sizes(tiny_cfg, traced_not_built):
    counters.clear()
    model = compile_model(Trainer.build_model(tiny_cfg(*OPTS)), "backbone").eval()
    with torch.no_grad():
        for h, w in ((96, 128), (128, 96)):  # not square: one size's H = W would be one symbol (duck shapes)
            image = torch.randint(0, 255, (3, h, w), dtype=torch.uint8)
            (out,) = model([{"image": image, "height": h, "width": w}])
            assert out["instances"].image_size == (h, w)
    # dynamic=True: the second size reuses the first one's graph (no recompile per image size).
    assert counters["stats"]["unique_graphs"] == 1, dict(counters["stats"])
