#!/usr/bin/env python
"""Export a trained model for deployment, through detectron2's TracingAdapter.

    python tools/export.py --config-file C.yaml --weights model_best.pth --format torchscript --output model.ts \
        [--sample-image PATH] [KEY VALUE ...]

The exported graph takes one CHW uint8/float tensor in the config's INPUT.FORMAT, resized so its
shorter side is INPUT.MIN_SIZE_TEST (as the test loader does), and returns flat tensors: boxes
(XYXY in that resized image), scores, classes, and mask logits for Mask R-CNN. Tracing needs one
sample image: --sample-image, else the first image of DATASETS.TEST[0]. Faster/Mask R-CNN,
RetinaNet and FCOS export (any backbone, Root-ResNet included); other meta-architectures are
refused with the reason. ONNX needs the onnx package (not installed by default).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config-file", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--format", default="torchscript", help="torchscript or onnx")
    ap.add_argument("--output", required=True, help="file to write")
    ap.add_argument("--sample-image", default="", help="image to trace with (default: the first test image)")
    ap.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return ap.parse_args(argv)


def sample_input(cfg, path: str = ""):
    """One test-size CHW tensor of ``path`` (or of DATASETS.TEST[0]'s first image)."""
    import numpy as np
    import torch
    from detectron2.data import DatasetCatalog
    from detectron2.data import transforms as T

    from scratchdet.config.errors import ConfigError
    from scratchdet.data.read_image import high_bit_depth_from_config, read_image_file

    if not path:
        if not cfg.DATASETS.TEST:
            raise ConfigError("--sample-image: the config has no DATASETS.TEST to take a sample image from; give one.")
        path = DatasetCatalog.get(cfg.DATASETS.TEST[0])[0]["file_name"]
    img = read_image_file(path, cfg.INPUT.FORMAT, high_bit_depth_from_config(cfg))
    img = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST).get_transform(img).apply_image(img)
    return torch.as_tensor(np.ascontiguousarray(img.transpose(2, 0, 1)))


def main(args: argparse.Namespace) -> str:
    import scratchdet  # noqa: F401
    from scratchdet.checkpoint import ScratchCheckpointer
    from scratchdet.config import load_config_file
    from scratchdet.engine import Trainer
    from scratchdet.engine.inference.export import export
    from scratchdet.engine.setup.plan import resolve_config

    cfg = resolve_config(load_config_file(args.config_file, args.opts))
    model = Trainer.build_model(cfg).eval()
    ScratchCheckpointer.from_config(cfg, model, save_dir="", for_evaluation=True).load(args.weights, checkpointables=[])
    image = sample_input(cfg, args.sample_image)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    export(model, image, args.format, args.output)
    print(f"export: {cfg.MODEL.META_ARCHITECTURE} written to {args.output} ({args.format}); input: one "
          f"{cfg.INPUT.FORMAT} CHW tensor resized to shorter side {cfg.INPUT.MIN_SIZE_TEST}")
    return args.output


if __name__ == "__main__":
    from scratchdet.engine.user_errors import run_reporting_user_errors

    run_reporting_user_errors(main, parse())
