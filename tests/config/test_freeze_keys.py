"""One freezing vocabulary: detectron2's MODEL.BACKBONE.FREEZE_AT for the first stages,
SCRATCHDET.FREEZE for whole parts; replaced keys and contradictions are config errors."""

import pytest

from scratchdet.config import ConfigError, load_config_file
from scratchdet.engine.setup.checks import check_run_config
from tests.conftest import DEMO_CONFIG


def _check(*opts):
    check_run_config(load_config_file(DEMO_CONFIG, list(opts)), training=False)


def test_whole_parts_with_freeze_at_zero_are_fine():
    _check("SCRATCHDET.FREEZE", "backbone+neck", "MODEL.BACKBONE.FREEZE_AT", "0")
    _check("MODEL.BACKBONE.FREEZE_AT", "2")


@pytest.mark.parametrize("opts, message", [
    (["SCRATCHDET.HANDOVER.FREEZE", "stages:3"], r"HANDOVER.FREEZE='stages:3' is replaced: set MODEL.BACKBONE.FREEZE_AT 3"),
    (["SCRATCHDET.HANDOVER.FREEZE", "backbone"], r"HANDOVER.FREEZE='backbone' is replaced: set SCRATCHDET.FREEZE 'backbone'"),
    (["SCRATCHDET.HANDOVER.SOURCE", "x.pth"], r"HANDOVER.SOURCE='x.pth' is replaced by MODEL.WEIGHTS"),
    (["SCRATCHDET.DEYO.FREEZE_BACKBONE", "True"],
     r"DEYO.FREEZE_BACKBONE=True is replaced: set SCRATCHDET.FREEZE 'backbone\+neck' \(True\) or '' \(False\)"),
    (["SCRATCHDET.DEYO.FREEZE_BACKBONE", "False"], r"DEYO.FREEZE_BACKBONE=False is replaced: set SCRATCHDET.FREEZE"),
    (["SCRATCHDET.FREEZE", "stages:2"], r"SCRATCHDET.FREEZE='stages:2'.*MODEL.BACKBONE.FREEZE_AT 2"),
    (["SCRATCHDET.FREEZE", "backbone", "MODEL.BACKBONE.FREEZE_AT", "2"],
     r"SCRATCHDET.FREEZE='backbone' freezes the whole backbone but MODEL.BACKBONE.FREEZE_AT=2"),
])
def test_replaced_keys_and_contradictions(opts, message):
    with pytest.raises(ConfigError, match=message):
        _check(*opts)
