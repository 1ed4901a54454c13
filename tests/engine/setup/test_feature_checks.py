"""Heads' feature names and anchors must match the backbone's outputs: clear ConfigErrors."""

import os

import pytest

from scratchdet.config import ConfigError, load_config_file
from scratchdet.engine.setup.checks import check_run_config as check_config
from scratchdet.engine.setup.feature_checks import feature_errors
from tests.conftest import REPO

BASES = os.path.join(REPO, "projects", "ScratchDet", "configs")
RCNN = os.path.join(BASES, "Base-RCNN-RootResNet-FPN.yaml")
RETINANET = os.path.join(BASES, "Base-RetinaNet-RootResNet-FPN.yaml")
D2_RCNN = os.path.join(REPO, "configs", "Base-RCNN-FPN.yaml")


def load(path, *opts):
    return load_config_file(path, ["MODEL.DEVICE", "cpu", *opts])


@pytest.mark.parametrize("path", [RCNN, RETINANET, D2_RCNN])
def test_shipped_bases_are_consistent(path):
    cfg = load(path)
    assert feature_errors(cfg) == []
    check_config(cfg)


def test_basic_stem_on_root_builder_needs_detectron2_names():
    cfg = load(RCNN, "MODEL.RESNETS.STEM_TYPE", "basic")
    errors = feature_errors(cfg)
    # With the basic stem the levels are p2..p6 again: the p1 lists are wrong, anchors still fit.
    assert len(errors) == 2
    assert "MODEL.RPN.IN_FEATURES=['p1', 'p2', 'p3', 'p4', 'p5'] uses ['p1']" in errors[0]
    assert "set MODEL.RPN.IN_FEATURES \"['p2','p3','p4','p5','p6']\"" in errors[0]
    assert "set MODEL.ROI_HEADS.IN_FEATURES \"['p2','p3','p4','p5']\"" in errors[1]


def test_detectron2_feature_names_with_root_stem():
    cfg = load(D2_RCNN, "MODEL.BACKBONE.NAME", "build_root_resnet_fpn_backbone", "MODEL.RESNETS.DEPTH", "18",
               "MODEL.RESNETS.RES2_OUT_CHANNELS", "64")
    with pytest.raises(ConfigError) as e:
        check_config(cfg)
    msg = str(e.value)
    assert "MODEL.RPN.IN_FEATURES=['p2', 'p3', 'p4', 'p5', 'p6'] uses ['p6']" in msg
    assert "it outputs p1 (stride 2), p2 (stride 4), p3 (stride 8), p4 (stride 16), p5 (stride 32)" in msg
    assert "set MODEL.RPN.IN_FEATURES \"['p1','p2','p3','p4','p5']\"" in msg
    # p2..p5 exist (p5 is the top block's level): ROI pooling from them works, so no error.
    assert "ROI_HEADS" not in msg


def test_root_stem_with_detectron2_builder():
    cfg = load(D2_RCNN, "MODEL.RESNETS.STEM_TYPE", "root")
    with pytest.raises(ConfigError, match=r"STEM_TYPE='root'.*build_resnet_fpn_backbone.*"
                                          r"set MODEL.BACKBONE.NAME build_root_resnet_fpn_backbone"):
        check_config(cfg)
    cfg = load(D2_RCNN, "MODEL.FPN.TOP_BLOCK_NUM_LEVELS", "2")
    with pytest.raises(ConfigError, match=r"TOP_BLOCK_NUM_LEVELS=2 is ignored by detectron2's"):
        check_config(cfg)


def test_anchor_sizes_one_per_level():
    cfg = load(RCNN, "MODEL.RPN.IN_FEATURES", "['p1','p2','p3','p4']")
    errors = feature_errors(cfg)
    assert len(errors) == 1
    assert "MODEL.ANCHOR_GENERATOR.SIZES has 5 entries but MODEL.RPN.IN_FEATURES has 4 levels" in errors[0]
    assert "MODEL.ANCHOR_GENERATOR.SIZES \"[[16],[32],[64],[128]]\"" in errors[0]
    # One list for every level is detectron2's broadcast, and fine.
    assert feature_errors(load(RCNN, "MODEL.RPN.IN_FEATURES", "['p1','p2','p3','p4']",
                               "MODEL.ANCHOR_GENERATOR.SIZES", "[[16,32]]")) == []


def test_aspect_ratios_one_per_level():
    cfg = load(RCNN, "MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", "[[1.0],[1.0]]")
    (error,) = feature_errors(cfg)
    assert "MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS has 2 entries but MODEL.RPN.IN_FEATURES has 5 levels" in error


def test_retinanet_levels_and_anchors():
    cfg = load(RETINANET, "MODEL.FPN.TOP_BLOCK_NUM_LEVELS", "2")
    (error,) = feature_errors(cfg)
    assert "MODEL.RETINANET.IN_FEATURES=['p3', 'p4', 'p5', 'p6', 'p7'] uses ['p7']" in error
    assert "set MODEL.RETINANET.IN_FEATURES \"['p3','p4','p5','p6']\"" in error
    cfg = load(RETINANET, "MODEL.RETINANET.IN_FEATURES", "['p3','p4','p5','p6']")
    (error,) = feature_errors(cfg)
    assert "SIZES has 5 entries but MODEL.RETINANET.IN_FEATURES has 4 levels" in error
    assert "for x in [32, 64, 128, 256]" in error


def test_roi_levels_must_be_consecutive():
    cfg = load(RCNN, "MODEL.ROI_HEADS.IN_FEATURES", "['p1','p3','p4']")
    (error,) = feature_errors(cfg)
    assert "MODEL.ROI_HEADS.IN_FEATURES=['p1', 'p3', 'p4']: these levels must be consecutive" in error


def test_builder_errors_are_reported_by_check_config():
    cfg = load(RCNN, "MODEL.FPN.TOP_BLOCK_IN_FEATURE", "p5")
    with pytest.raises(ConfigError, match=r"set MODEL.FPN.TOP_BLOCK_IN_FEATURE to 'p4'"):
        check_config(cfg)


def test_unused_keys_are_not_checked():
    # RetinaNet does not read the RPN/ROI keys; precomputed proposals do not read the RPN's.
    assert feature_errors(load(RETINANET, "MODEL.RPN.IN_FEATURES", "['p9']")) == []
    cfg = load(RCNN, "MODEL.PROPOSAL_GENERATOR.NAME", "PrecomputedProposals", "MODEL.RPN.IN_FEATURES", "['p9']")
    assert feature_errors(cfg) == []
