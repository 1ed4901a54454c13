"""Batched inference on plain images with a scratchdet config: detectron2's DefaultPredictor
(test-time resize, the model's input format), for several images per forward pass, with the
weights loaded through scratchdet's safe checkpointer. Used by tools/predict.py."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as mask_util
import torch
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.data import transforms as T
from detectron2.structures import BoxMode, Instances

from ...checkpoint import ScratchCheckpointer
from ...modeling.conv_bn_fusion import fuse_conv_bn
from ..train.trainer import Trainer


class BatchPredictor:
    """``predictor(images)`` for a list of HWC uint8 arrays in ``cfg.INPUT.FORMAT``; returns
    one detectron2 ``Instances`` per image, in the image's own pixel coordinates."""

    def __init__(self, cfg: CfgNode, weights: str):
        self.cfg = cfg.clone()
        self.model = Trainer.build_model(self.cfg).eval()
        ScratchCheckpointer.from_config(self.cfg, self.model, save_dir="", for_evaluation=True).load(weights, checkpointables=[])
        if self.cfg.SCRATCHDET.TEST.FUSE_CONV_BN:  # after loading: the checkpoint's BN statistics are folded
            self.model = fuse_conv_bn(self.model)
        self.resize = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
        self.device = torch.device(cfg.MODEL.DEVICE)

    @torch.no_grad()
    def __call__(self, images: list[np.ndarray]) -> list[Instances]:
        inputs = []
        for img in images:
            h, w = img.shape[:2]
            resized = self.resize.get_transform(img).apply_image(img)
            tensor = torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1))).to(self.device)
            inputs.append({"image": tensor, "height": h, "width": w})
        return [o["instances"].to("cpu") for o in self.model(inputs)]


def dataset_category_ids(cfg: CfgNode) -> tuple[list[str], list[int]]:
    """Class names and the dataset's own category ids of each contiguous class (the COCO json's
    ids when the first test or training dataset is registered with them), else 0..N-1 / 1..N."""
    names = cfg.DATASETS.TEST or cfg.DATASETS.TRAIN
    for name in names:
        meta = MetadataCatalog.get(name)
        classes = meta.get("thing_classes")
        if classes:
            to_contiguous = meta.get("thing_dataset_id_to_contiguous_id")
            if to_contiguous:
                inverse = {v: k for k, v in to_contiguous.items()}
                return list(classes), [int(inverse[i]) for i in range(len(classes))]
            return list(classes), list(range(1, len(classes) + 1))
    return [], []


def coco_results(instances: Instances, image_id: int, category_ids: list[int], **extra) -> list[dict]:
    """COCO-format results (bbox XYWH, score, category id, RLE segmentation if any) of one image."""
    out = []
    boxes = BoxMode.convert(instances.pred_boxes.tensor.numpy(), BoxMode.XYXY_ABS, BoxMode.XYWH_ABS) \
        if len(instances) else np.zeros((0, 4))
    masks = instances.pred_masks.numpy() if instances.has("pred_masks") else None
    for k in range(len(instances)):
        cls = int(instances.pred_classes[k])
        r = {"image_id": image_id, "category_id": category_ids[cls] if cls < len(category_ids) else cls,
             "bbox": [round(float(v), 2) for v in boxes[k]], "score": round(float(instances.scores[k]), 5), **extra}
        if masks is not None:
            rle = mask_util.encode(np.asfortranarray(masks[k].astype(np.uint8)))
            rle["counts"] = rle["counts"].decode("ascii")
            r["segmentation"] = rle
        out.append(r)
    return out
