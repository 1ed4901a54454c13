"""The training augmentation policy selected by SCRATCHDET.AUG: a geometric policy by name
("default", "multiscale", "lsj") plus composable flags (photometric jitter, vertical flip,
90-degree rotations). Mosaic and Copy-Paste mix images and live in the mapper."""

from __future__ import annotations

from detectron2.config import CfgNode
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from ...config.errors import ConfigError
from .large_scale_jitter import build_lsj_augmentations
from .multiscale import build_multiscale_augmentations
from .photometric import build_photometric_augmentations
from .rotate90 import RandomRot90

POLICIES = ("default", "multiscale", "lsj")


def _flip(cfg: CfgNode) -> list[T.Augmentation]:
    # detectron2's INPUT.RANDOM_FLIP, which every policy keeps (LSJ baselines flip too).
    if cfg.INPUT.RANDOM_FLIP == "none":
        return []
    return [T.RandomFlip(horizontal=cfg.INPUT.RANDOM_FLIP == "horizontal",
                         vertical=cfg.INPUT.RANDOM_FLIP == "vertical")]


def policy_crops(cfg: CfgNode) -> bool:
    """Whether the geometric policy can cut instances (then boxes are recomputed from masks)."""
    return cfg.SCRATCHDET.AUG.POLICY == "lsj" or (
        cfg.SCRATCHDET.AUG.POLICY == "default" and (cfg.INPUT.CROP.ENABLED or cfg.SCRATCHDET.AUG.CROP_AFTER_RESIZE > 0)
    )


def build_augmentation_policy(cfg: CfgNode, is_train: bool) -> list[T.Augmentation]:
    """The list of detectron2 Augmentations for one image. At test time: detectron2's own
    (shortest-edge resize to INPUT.MIN_SIZE_TEST), so evaluation is unchanged by the policy.

    Order: photometric jitter, vertical flip and 90-degree rotation first (on the image as
    read, so LSJ's fixed output size holds and its padding is not jittered), then the geometric
    policy and INPUT.RANDOM_FLIP."""
    if not is_train:
        return utils.build_augmentation(cfg, is_train=False)
    aug = cfg.SCRATCHDET.AUG
    if aug.POLICY not in POLICIES:
        raise ConfigError(f"SCRATCHDET.AUG.POLICY='{aug.POLICY}' is not a policy. Known: {', '.join(POLICIES)}.")

    augs: list[T.Augmentation] = []
    if aug.PHOTOMETRIC.ENABLED:
        p = aug.PHOTOMETRIC
        augs += build_photometric_augmentations(p.BRIGHTNESS, p.CONTRAST, p.SATURATION, p.HUE, cfg.INPUT.FORMAT)
    if aug.VFLIP:
        augs.append(T.RandomFlip(prob=0.5, horizontal=False, vertical=True))
    if aug.ROT90:
        augs.append(RandomRot90())

    if aug.POLICY == "default":
        # detectron2's DatasetMapper: optional INPUT.CROP, then resize and flip.
        if cfg.INPUT.CROP.ENABLED:
            augs.append(T.RandomCrop(cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE))
        augs += utils.build_augmentation(cfg, is_train=True)
        if aug.CROP_AFTER_RESIZE > 0:  # a square window of the resized image: objects keep the test scale
            side = int(aug.CROP_AFTER_RESIZE)
            augs.append(T.FixedSizeCrop((side, side), pad=False))
        return augs
    try:
        if aug.POLICY == "multiscale":
            augs += build_multiscale_augmentations(
                cfg.INPUT.MIN_SIZE_TEST, aug.MULTISCALE.SCALE_RANGE, cfg.INPUT.MAX_SIZE_TRAIN
            )
        else:
            augs += build_lsj_augmentations(aug.LSJ.IMAGE_SIZE, aug.LSJ.SCALE_RANGE, aug.PAD_VALUE)
    except ValueError as e:
        key = "MULTISCALE" if aug.POLICY == "multiscale" else "LSJ"
        raise ConfigError(f"SCRATCHDET.AUG.{key}.SCALE_RANGE: {e}") from e
    return augs + _flip(cfg)
