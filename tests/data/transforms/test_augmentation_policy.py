"""The policy builder: names and flags select detectron2 Augmentations; test time is unchanged."""

import pytest
from detectron2.data import transforms as T

from scratchdet.config import ConfigError
from scratchdet.data.transforms import RandomHue, RandomRot90, build_augmentation_policy


def kinds(augs):
    return [type(a).__name__ for a in augs]


def test_policies_by_name(tiny_cfg):
    assert kinds(build_augmentation_policy(tiny_cfg(), True)) == ["ResizeShortestEdge", "RandomFlip"]
    cfg = tiny_cfg("SCRATCHDET.AUG.POLICY", "lsj", "SCRATCHDET.AUG.LSJ.IMAGE_SIZE", "128")
    augs = build_augmentation_policy(cfg, True)
    assert kinds(augs) == ["ResizeScale", "FixedSizeCrop", "RandomFlip"]
    assert augs[0].target_height == 128 and (augs[0].min_scale, augs[0].max_scale) == (0.1, 2.0)
    cfg = tiny_cfg("SCRATCHDET.AUG.POLICY", "multiscale", "INPUT.MIN_SIZE_TEST", "100")
    (resize, _) = build_augmentation_policy(cfg, True)
    assert resize.short_edge_length == (80, 100)


def test_flags_compose_before_the_geometric_policy(tiny_cfg):
    cfg = tiny_cfg("SCRATCHDET.AUG.POLICY", "lsj", "SCRATCHDET.AUG.PHOTOMETRIC.ENABLED", "True",
                   "SCRATCHDET.AUG.VFLIP", "True", "SCRATCHDET.AUG.ROT90", "True")
    augs = build_augmentation_policy(cfg, True)
    assert kinds(augs) == ["RandomBrightness", "RandomContrast", "RandomSaturation", "RandomHue",
                           "RandomFlip", "RandomRot90", "ResizeScale", "FixedSizeCrop", "RandomFlip"]
    assert isinstance(augs[3], RandomHue) and isinstance(augs[5], RandomRot90)
    assert augs[4].vertical and not augs[4].horizontal


def test_test_time_is_detectron2s_resize(tiny_cfg):
    cfg = tiny_cfg("SCRATCHDET.AUG.POLICY", "lsj", "SCRATCHDET.AUG.ROT90", "True")
    (resize,) = build_augmentation_policy(cfg, False)
    assert isinstance(resize, T.ResizeShortestEdge) and resize.short_edge_length == (96, 96)


def test_unknown_policy_names_the_key(tiny_cfg):
    with pytest.raises(ConfigError, match="SCRATCHDET.AUG.POLICY='big'.*default, multiscale, lsj"):
        build_augmentation_policy(tiny_cfg("SCRATCHDET.AUG.POLICY", "big"), True)
    with pytest.raises(ConfigError, match="SCRATCHDET.AUG.LSJ.SCALE_RANGE"):
        build_augmentation_policy(tiny_cfg("SCRATCHDET.AUG.POLICY", "lsj", "SCRATCHDET.AUG.LSJ.SCALE_RANGE", "(2.0, 1.0)"), True)
