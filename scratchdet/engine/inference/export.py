"""Exporting a trained model to TorchScript (and ONNX where torch's exporter and the ``onnx``
package allow) through detectron2's ``TracingAdapter``: the graph takes one CHW image tensor (in
the model's INPUT.FORMAT, already resized to the test size) and returns flat tensors (boxes,
classes, scores, masks where the model has them), before the resize back to the image size."""

from __future__ import annotations

import torch
from detectron2.export import TracingAdapter
from detectron2.modeling import GeneralizedRCNN
from detectron2.modeling.meta_arch.dense_detector import DenseDetector

from ...config.errors import ConfigError
from ...modeling.meta_arch.deyo import DEYODetector
from ...modeling.meta_arch.scratchdet_ssd import ScratchDetSSD

FORMATS = ("torchscript", "onnx")


def _inference(model: torch.nn.Module, inputs: list[dict]) -> list[dict]:
    # Without the resize to the original size: that step is data-dependent Python, not a graph.
    if isinstance(model, GeneralizedRCNN):
        return [{"instances": model.inference(inputs, do_postprocess=False)[0]}]
    if isinstance(model, DenseDetector):  # RetinaNet, FCOS
        images = model.preprocess_image(inputs)
        features = model.backbone(images.tensor)
        features = [features[f] for f in model.head_in_features]
        return [{"instances": model.forward_inference(images, features, model.head(features))[0]}]
    # ScratchDet's SSD, DEYO: without "height"/"width" in the inputs they answer at the input's size.
    return model(inputs)


def traceable(model: torch.nn.Module, image: torch.Tensor) -> TracingAdapter:
    """The model as a function of one image tensor, for torch.jit.trace / torch.onnx.export."""
    if not isinstance(model, (GeneralizedRCNN, DenseDetector, ScratchDetSSD, DEYODetector)):
        raise ConfigError(f"Export of {type(model).__name__} is not supported: only the detectors whose inference "
                          "was checked to trace are (Faster/Mask R-CNN, RetinaNet, FCOS with any backbone, Root-ResNet "
                          "included; ScratchDet's SSD; DEYO). Export its parts yourself, or add it here with a test.")
    return TracingAdapter(model.eval(), [{"image": image}], _inference)


def export(model: torch.nn.Module, image: torch.Tensor, fmt: str, path: str) -> TracingAdapter:
    """Write ``model`` traced on ``image`` to ``path`` in ``fmt``; returns the adapter (its
    ``outputs_schema`` rebuilds Instances from the exported graph's outputs)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: use one of {', '.join(FORMATS)}.")
    adapter = traceable(model, image)
    with torch.no_grad():
        if fmt == "torchscript":
            traced = torch.jit.trace(adapter, adapter.flattened_inputs, check_trace=False)
            traced.save(path)
        else:
            try:
                import onnx  # noqa: F401
            except ImportError as e:
                raise ConfigError("--format onnx needs the onnx package (pip install onnx onnxruntime); "
                                  "--format torchscript needs nothing more.") from e
            torch.onnx.export(adapter, adapter.flattened_inputs, path, opset_version=17, dynamo=False)
    return adapter
