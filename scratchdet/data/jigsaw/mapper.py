"""The jigsaw dataset mapper: each call returns one canvas of four samples (assembly.py) drawn
from the samples of the whole dataset (sampling.py)."""

from __future__ import annotations

import zlib

import cv2
import numpy as np
import torch
from detectron2.config import CfgNode, configurable

from ..mapper_registry import MAPPER_REGISTRY
from ..read_image import HighBitDepth, high_bit_depth_from_config, read_image_file
from .assembly import GroupSampler, assemble_canvas
from .sampling import JigsawSamples, build_jigsaw_samples

# Order of the groups handed to assemble_canvas.
_DRAW_GROUPS = ("S", "S", "T", "W")


@MAPPER_REGISTRY.register()
class JigsawMapper:
    """Maps any dataset dict to a jigsaw canvas: the dict only sets how many canvases an epoch
    has (one per image) and, at evaluation, the seed of its canvas (from its ``image_id``).

    Returns ``{"image": CHW uint8 tensor (C x C, in INPUT.FORMAT), "cells": (4, 4) float32 XYXY
    cell boxes, "cell_labels": (4,) int64 (``num_classes`` = background), "height", "width",
    "image_id"}``; cells in the order top-left (smaller S), top-right (W), bottom-left (T),
    bottom-right (larger S); and "cell_objects": (4, 4) float32 XYXY canvas box of the part of
    each cell's object in view (empty for negatives), for :func:`cell_object_fill`.

    Randomness: training draws from numpy's global RNG, which detectron2 seeds per data-loader
    worker (``SEED``), as its own augmentations do.
    """

    @configurable
    def __init__(self, is_train: bool, *, samples: JigsawSamples, canvas_size: int, image_format: str,
                 pad_value: tuple[float, ...], min_cell_fraction: float = 0.25, seed: int = 0,
                 high_bit_depth: HighBitDepth | None = None, sample_scale_range: tuple[float, float] = (1.0, 1.0),
                 sample_flip: bool = False):
        self.is_train = is_train
        self.samples = samples
        self.canvas_size = canvas_size
        self.image_format = image_format
        self.pad_value = np.round(np.asarray(pad_value, np.float64)).astype(np.uint8)
        self.min_cell_fraction = min_cell_fraction
        self.seed = seed
        self.high_bit_depth = high_bit_depth
        self.sample_scale_range = tuple(sample_scale_range)
        self.sample_flip = sample_flip
        self.sampler = GroupSampler(samples, shuffle=is_train)

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True, dataset_dicts: list[dict] | None = None) -> dict:
        """``dataset_dicts``: the training set's dicts (the trainer's), sampled instead of loading
        DATASETS.TRAIN again; evaluation samples DATASETS.TEST."""
        names = cfg.DATASETS.TRAIN if is_train else cfg.DATASETS.TEST
        j = cfg.SCRATCHDET.JIGSAW
        return {
            "is_train": is_train,
            "samples": build_jigsaw_samples(cfg, names, dataset_dicts if is_train else None),
            "canvas_size": j.CANVAS_SIZE,
            "image_format": cfg.INPUT.FORMAT,
            "pad_value": tuple(cfg.MODEL.PIXEL_MEAN),  # normalises to zero in the model
            "min_cell_fraction": j.MIN_CELL_FRACTION,
            "seed": j.SAMPLE_SEED,
            "high_bit_depth": high_bit_depth_from_config(cfg),
            "sample_scale_range": tuple(j.SAMPLE_SCALE_RANGE),
            "sample_flip": j.SAMPLE_FLIP,
        }

    def _crop(self, i: int) -> tuple[np.ndarray, tuple[float, float], np.ndarray]:
        s = self.samples
        file_name = s.file_names[s.image_index[i]]
        image = read_image_file(file_name, self.image_format, self.high_bit_depth)
        x0, y0, x1, y1 = s.boxes[i].astype(np.int64)
        center = (float(s.centers[i][0] - x0), float(s.centers[i][1] - y0))
        obj = (s.objects[i] if s.objects is not None else np.zeros(4)) - np.array([x0, y0, x0, y0])
        return image[y0:y1, x0:x1], center, obj

    def _jitter(self, crop: np.ndarray, center: tuple[float, float], obj: np.ndarray, rng
                ) -> tuple[np.ndarray, tuple[float, float], np.ndarray]:
        """The sample rescaled by U(SAMPLE_SCALE_RANGE) and flipped with probability 0.5 (its
        object's centre and box follow); the aspect group is unchanged by a uniform rescale."""
        lo, hi = self.sample_scale_range
        s = float(rng.uniform(lo, hi)) if hi > lo else lo
        if s != 1.0:
            h, w = crop.shape[:2]
            nh, nw = max(1, round(h * s)), max(1, round(w * s))
            crop = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_LINEAR)
            if crop.ndim == 2:
                crop = crop[:, :, None]
            sx, sy = nw / w, nh / h
            center = (center[0] * sx, center[1] * sy)
            obj = np.asarray(obj, np.float64) * [sx, sy, sx, sy]
        if self.sample_flip and rng.rand() < 0.5:
            w = crop.shape[1]
            crop = crop[:, ::-1]
            center = (w - center[0], center[1])
            obj = np.array([w - obj[2], obj[1], w - obj[0], obj[3]], np.float64)
        return np.ascontiguousarray(crop), center, obj

    def __call__(self, dataset_dict: dict) -> dict:
        if self.is_train:
            rng = np.random
        else:  # the same canvas for the same image at every evaluation
            key = str(dataset_dict.get("image_id", dataset_dict.get("file_name", "")))
            rng = np.random.RandomState((self.seed + zlib.crc32(key.encode())) % 2**32)
        picks = [self.sampler.draw(g, rng) for g in _DRAW_GROUPS]
        crops, centers, objects = zip(*(self._crop(i) for i in picks))
        if self.is_train:  # evaluation canvases stay those of the seed
            crops, centers, objects = zip(*(self._jitter(*c, rng) for c in zip(crops, centers, objects)))
        pad = self.pad_value[: crops[0].shape[2]]
        canvas, cells, order, visible = assemble_canvas(list(crops), list(centers), self.canvas_size, rng, pad,
                                                        self.min_cell_fraction, list(objects))
        labels = self.samples.labels[[picks[k] for k in order]]
        return {
            "image": torch.as_tensor(np.ascontiguousarray(canvas.transpose(2, 0, 1))),
            "cells": torch.as_tensor(cells, dtype=torch.float32),
            "cell_labels": torch.as_tensor(labels, dtype=torch.int64),
            "cell_objects": torch.as_tensor(visible, dtype=torch.float32),
            "height": self.canvas_size,
            "width": self.canvas_size,
            "image_id": dataset_dict.get("image_id"),
        }
