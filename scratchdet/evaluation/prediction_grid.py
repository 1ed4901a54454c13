"""A PNG of a model's predictions on a few images of a dataset, for a person to look at."""

from __future__ import annotations

import math
import os

import cv2
import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from detectron2.utils.visualizer import Visualizer

from ..data.read_image import high_bit_depth_from_config, read_image_file
from ..io.atomic import atomic_open


def draw_prediction_grid(
    cfg: CfgNode, model: torch.nn.Module, dataset_name: str, out_png: str,
    num_images: int = 6, score_thresh: float = 0.5, tile: int = 320,
) -> str:
    """Run ``model`` (eval mode, on cfg.MODEL.DEVICE) on the first ``num_images`` images of
    ``dataset_name`` and write them with their predictions (left) and ground truth (right) in a grid."""
    meta = MetadataCatalog.get(dataset_name)
    dicts = DatasetCatalog.get(dataset_name)[:num_images]
    # The test-time resize of DefaultPredictor, applied to the model we already have.
    aug = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
    was_training = model.training
    model.eval()
    tiles = []
    try:
        for d in dicts:
            img = read_image_file(d["file_name"], cfg.INPUT.FORMAT, high_bit_depth_from_config(cfg))
            rgb = img[:, :, ::-1] if cfg.INPUT.FORMAT == "BGR" else img
            h, w = img.shape[:2]
            x = aug.get_transform(img).apply_image(img)
            with torch.no_grad():
                x = torch.as_tensor(x.astype("float32").transpose(2, 0, 1))
                inst = model([{"image": x, "height": h, "width": w}])[0]["instances"].to("cpu")
            inst = inst[inst.scores >= score_thresh]
            pred = Visualizer(rgb, meta, scale=tile / max(rgb.shape[:2])).draw_instance_predictions(inst)
            gt = Visualizer(rgb, meta, scale=tile / max(rgb.shape[:2])).draw_dataset_dict(d)
            pair = np.concatenate([pred.get_image(), np.full((pred.get_image().shape[0], 4, 3), 255, np.uint8),
                                   gt.get_image()], 1)
            tiles.append(pair)
    finally:
        model.train(was_training)
    if not tiles:
        raise ValueError(f"Dataset '{dataset_name}' has no images to draw.")
    return _write_grid(tiles, out_png)


def draw_dataset_grid(dataset_name: str, out_png: str, num_images: int = 6, tile: int = 320) -> str:
    """The first ``num_images`` images of ``dataset_name`` with their annotations (e.g. pseudo-labels)."""
    meta = MetadataCatalog.get(dataset_name)
    tiles = []
    for d in DatasetCatalog.get(dataset_name)[:num_images]:
        rgb = read_image_file(d["file_name"], "RGB")
        tiles.append(Visualizer(rgb, meta, scale=tile / max(rgb.shape[:2])).draw_dataset_dict(d).get_image())
    if not tiles:
        raise ValueError(f"Dataset '{dataset_name}' has no images to draw.")
    return _write_grid(tiles, out_png)


def _write_grid(tiles: list[np.ndarray], out_png: str) -> str:
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    cols = 2 if len(tiles) > 1 else 1
    rows = math.ceil(len(tiles) / cols)
    grid = np.full((rows * (h + 4), cols * (w + 8), 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * (h + 4): r * (h + 4) + t.shape[0], c * (w + 8): c * (w + 8) + t.shape[1]] = t
    os.makedirs(os.path.dirname(os.path.abspath(out_png)), exist_ok=True)
    ok, buf = cv2.imencode(".png", grid[:, :, ::-1])
    with atomic_open(out_png, "wb") as f:
        f.write(buf.tobytes())
    return out_png
