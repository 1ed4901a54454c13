"""TorchScript export through TracingAdapter: the loaded file gives the PyTorch model's outputs
on other images (floating outputs within 1e-3 absolute / 1e-4 relative, integers equal), for Mask
R-CNN (demo), Faster R-CNN and RetinaNet with the Root-ResNet stem, ScratchDet's SSD and DEYO's
NMS-free detector; a model that cannot be traced is refused with the reason."""

import os

import pytest
import torch
from detectron2.modeling import build_model

from scratchdet.config.errors import ConfigError
from scratchdet.engine.inference.export import export, traceable
from tests.conftest import DEMO_CONFIG, REPO, TINY_OPTS

ROOT = os.path.join(REPO, "projects", "ScratchDet", "configs", "faster_rcnn_rootres18_FPN_shapes_cpu.yaml")
RETINA = os.path.join(REPO, "projects", "ScratchDet", "configs", "Base-RetinaNet-RootResNet-FPN.yaml")
SSD = os.path.join(REPO, "projects", "ScratchDet", "configs", "scratchdet_rootres18_shapes_cpu.yaml")
DEYO = os.path.join(REPO, "projects", "DEYO", "configs", "deyo_two_stage_R18_FPN_shapes_cpu.yaml")


def _images(n, h=96, w=128):
    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, 255, (3, h, w), generator=g, dtype=torch.uint8) for _ in range(n)]


@pytest.mark.parametrize("config,opts", [(DEMO_CONFIG, []), (ROOT, []),
                                         (RETINA, ["MODEL.RETINANET.SCORE_THRESH_TEST", "0.0", "MODEL.DEVICE", "cpu"]),
                                         (SSD, []), (DEYO, [])])
def test_torchscript_round_trip_equals_pytorch(tmp_path, config, opts):
    from scratchdet.config import load_config_file

    cfg = load_config_file(config, TINY_OPTS[:4] + ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0", *opts])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    first, *others = _images(3)
    path = str(tmp_path / "m.ts")
    adapter = export(model, first, "torchscript", path)
    loaded = torch.jit.load(path)
    for img in others:
        with torch.no_grad():
            expected = traceable(model, img)(img)
            got = loaded(img)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert a.shape == b.shape
            if a.is_floating_point():
                assert torch.allclose(a, b, atol=1e-3, rtol=1e-4), (a - b).abs().max()
            else:
                assert torch.equal(a, b)
    inst = adapter.outputs_schema(loaded(others[0]))[0]["instances"]
    assert inst.has("pred_boxes") and inst.has("scores") and len(inst) > 0


@pytest.mark.parametrize("config", [DEMO_CONFIG, ROOT, DEYO])
def test_onnx_round_trip_in_onnxruntime_equals_pytorch(tmp_path, config):
    import numpy as np
    import onnxruntime

    from scratchdet.config import load_config_file

    cfg = load_config_file(config, TINY_OPTS[:4] + ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"])
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    first, other = _images(2)
    path = str(tmp_path / "m.onnx")
    export(model, first, "onnx", path)
    session = onnxruntime.InferenceSession(path)
    got = session.run(None, {session.get_inputs()[0].name: other.numpy()})
    with torch.no_grad():
        expected = traceable(model, other)(other)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.shape == tuple(b.shape) and np.allclose(a, b.numpy(), atol=1e-3, rtol=1e-4)


def test_a_model_without_a_traceable_graph_is_refused(tiny_cfg):
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ConfigError, match="Export of Linear is not supported"):
        traceable(model, torch.zeros(3, 8, 8))
