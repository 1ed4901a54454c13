"""The training mapper of the SCRATCHDET.AUG policies: detectron2's DatasetMapper with the
configured augmentation list, plus Mosaic and Copy-Paste, which need other training images.

At test time it is detectron2's DatasetMapper (test resize only), so evaluation does not
depend on the training policy.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.data.common import DatasetFromList
from detectron2.structures import Instances

from ...config.errors import ConfigError
from ..dataset_dicts import load_checked_dataset
from ..mapper_registry import MAPPER_REGISTRY
from ..transforms.copy_paste import CopyPaste
from ..transforms.mosaic import Mosaic
from ..transforms.policy import build_augmentation_policy, policy_crops
from .dataset_mapper import DatasetMapper

logger = logging.getLogger(__name__)

# Draws before Copy-Paste gives up looking for a source image with instances.
_MAX_SOURCE_DRAWS = 10


@MAPPER_REGISTRY.register()
class AugmentedDatasetMapper(DatasetMapper):
    """DatasetMapper whose training augmentations come from SCRATCHDET.AUG (see
    :func:`build_augmentation_policy`) and which can assemble Mosaics of four training images
    and paste other images' instances (Copy-Paste).

    Per training image: Mosaic (with probability ``mosaic_prob``) on the images as read, then
    the augmentation list, then Copy-Paste (with probability ``copy_paste_prob``) of a source
    image that went through the augmentation list on its own, as Ghiasi et al. do. The output is
    a normal detectron2 mapper output: "image" (CHW tensor) and "instances" (gt_boxes,
    gt_classes, gt_masks in INPUT.MASK_FORMAT); images without annotations give empty instances.

    Other images are drawn from ``dataset_dicts`` (by default cfg.DATASETS.TRAIN) with the
    mapper's own generator, seeded from numpy's global one, which detectron2 seeds per data
    loader worker (so workers draw differently), or from ``seed`` and the worker id.
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        mosaic: Mosaic | None = None,
        mosaic_prob: float = 1.0,
        copy_paste: CopyPaste | None = None,
        copy_paste_prob: float = 1.0,
        dataset_dicts: list[dict] | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(is_train, **kwargs)
        self.mosaic = mosaic if is_train else None
        self.copy_paste = copy_paste if is_train else None
        self.mosaic_prob = mosaic_prob
        self.copy_paste_prob = copy_paste_prob
        if self.mosaic is not None or self.copy_paste is not None:
            if self.use_keypoint or self.proposal_topk is not None:
                raise ConfigError("Mosaic and Copy-Paste do not support keypoints or precomputed proposals: "
                                  "set SCRATCHDET.AUG.MOSAIC.ENABLED and COPY_PASTE.ENABLED False.")
            if not dataset_dicts:
                raise ValueError("Mosaic and Copy-Paste need the training dataset_dicts to draw images from.")
            # Serialized (as detectron2's data loader does) so that workers share it cheaply.
            self.dataset_dicts = DatasetFromList(list(dataset_dicts), copy=True, serialize=True)
            logger.info(f"[AugmentedDatasetMapper] {self.mosaic!r} p={mosaic_prob}, "
                        f"{self.copy_paste!r} p={copy_paste_prob}, from {len(self.dataset_dicts)} images")
        self.seed = seed
        self._rng: np.random.Generator | None = None
        self._rng_pid: int | None = None

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True, dataset_dicts: list[dict] | None = None) -> dict:
        """``dataset_dicts``: the training set's checked dicts (the trainer's); loaded from
        cfg.DATASETS.TRAIN when not given and Mosaic or Copy-Paste needs them."""
        ret = super().from_config(cfg, is_train)
        ret["augmentations"] = build_augmentation_policy(cfg, is_train)
        aug = cfg.SCRATCHDET.AUG
        mixing = is_train and (aug.MOSAIC.ENABLED or aug.COPY_PASTE.ENABLED)
        # Crops and occlusion cut instances: their tight box comes from the mask (as detectron2's
        # LSJ configs do with recompute_boxes).
        ret["recompute_boxes"] = is_train and cfg.MODEL.MASK_ON and (policy_crops(cfg) or mixing)
        if not mixing:
            return ret
        try:
            if aug.MOSAIC.ENABLED:
                ret["mosaic"] = Mosaic(aug.MOSAIC.SIZE, aug.MOSAIC.CENTER_RANGE, aug.PAD_VALUE)
                ret["mosaic_prob"] = aug.MOSAIC.PROB
            if aug.COPY_PASTE.ENABLED:
                ret["copy_paste"] = CopyPaste(aug.COPY_PASTE.SCALE_RANGE, aug.COPY_PASTE.MIN_VISIBLE_FRACTION)
                ret["copy_paste_prob"] = aug.COPY_PASTE.PROB
        except ValueError as e:
            raise ConfigError(f"SCRATCHDET.AUG: {e}") from e
        if dataset_dicts is None:
            dataset_dicts = load_checked_dataset(cfg, list(cfg.DATASETS.TRAIN), is_train=True, check_images=False,
                                                 filter_empty=False)
        ret["dataset_dicts"] = dataset_dicts
        return ret

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None or self._rng_pid != os.getpid():  # a new worker process: reseed
            info = torch.utils.data.get_worker_info()
            worker = info.id if info is not None else 0
            entropy = np.random.randint(2**31) if self.seed is None else self.seed
            self._rng, self._rng_pid = np.random.default_rng((entropy, worker)), os.getpid()
        return self._rng

    def _read(self, dataset_dict: dict) -> tuple[np.ndarray, list[dict]]:
        """The image and its prepared annotations."""
        image = self.read_image(dataset_dict)
        # Masks are kept for Copy-Paste, which cuts by them, even when the model has none.
        keep_masks = self.use_instance_mask or self.copy_paste is not None
        return image, self._prepare(dataset_dict.get("annotations", []), keep_masks)

    def _prepare(self, annotations: list[dict], keep_masks: bool) -> list[dict]:
        """Non-crowd annotations (shallow copies: fields are replaced downstream, never edited
        in place) with only the fields the model uses."""
        out = []
        for anno in annotations:
            if anno.get("iscrowd", 0):
                continue
            anno = dict(anno)
            if not self.use_keypoint:
                anno.pop("keypoints", None)
            if not keep_masks:
                anno.pop("segmentation", None)
            out.append(anno)
        return out

    def _to_instances(self, annos: list[dict], image_shape: tuple[int, int]) -> Instances:
        instances = utils.annotations_to_instances(annos, image_shape, mask_format=self.instance_mask_format)
        # detectron2's own recompute fails on an image without instances (it has no gt_masks).
        if self.recompute_boxes and instances.has("gt_masks"):
            instances.gt_boxes = instances.gt_masks.get_bounding_boxes()
        return utils.filter_empty_instances(instances)

    def _transform_annotations(self, dataset_dict: dict, transforms, image_shape: tuple[int, int]) -> None:
        # detectron2's version, sharing _prepare and _to_instances with the mixing path.
        annos = [
            utils.transform_instance_annotations(
                a, transforms, image_shape, keypoint_hflip_indices=self.keypoint_hflip_indices
            )
            for a in self._prepare(dataset_dict.pop("annotations"), self.use_instance_mask)
        ]
        dataset_dict["instances"] = self._to_instances(annos, image_shape)

    def _augment(self, image: np.ndarray, annos: list[dict]) -> tuple[np.ndarray, list[dict]]:
        aug_input = T.AugInput(image)
        transforms = self.augmentations(aug_input)
        image = aug_input.image
        annos = [utils.transform_instance_annotations(a, transforms, image.shape[:2]) for a in annos]
        return image, annos

    def _draw(self, with_instances: bool = False) -> dict | None:
        for _ in range(_MAX_SOURCE_DRAWS if with_instances else 1):
            d = self.dataset_dicts[int(self.rng.integers(len(self.dataset_dicts)))]
            if not with_instances or any(not a.get("iscrowd", 0) for a in d.get("annotations", [])):
                return d
        return None

    def __call__(self, dataset_dict: dict) -> dict:
        if not self.is_train or (self.mosaic is None and self.copy_paste is None):
            return super().__call__(dataset_dict)
        rng = self.rng
        do_mosaic = self.mosaic is not None and rng.random() < self.mosaic_prob
        do_paste = self.copy_paste is not None and rng.random() < self.copy_paste_prob
        if not (do_mosaic or do_paste):
            return super().__call__(dataset_dict)

        dataset_dict = dict(dataset_dict)  # _read copies the annotations it changes
        image, annos = self._read(dataset_dict)
        if do_mosaic:
            others = [self._read(self._draw()) for _ in range(3)]
            image, annos = self.mosaic([image] + [o[0] for o in others], [annos] + [o[1] for o in others], rng)
        image, annos = self._augment(image, annos)
        if do_paste:
            source = self._draw(with_instances=True)
            if source is not None:
                src_image, src_annos = self._augment(*self._read(source))
                image, annos = self.copy_paste(image, annos, src_image, src_annos, rng)

        if not self.use_instance_mask:
            for anno in annos:
                anno.pop("segmentation", None)
        image_shape = image.shape[:2]
        dataset_dict["image"] = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        dataset_dict.pop("annotations", None)
        dataset_dict.pop("sem_seg_file_name", None)
        dataset_dict["instances"] = self._to_instances(annos, image_shape)
        return dataset_dict
