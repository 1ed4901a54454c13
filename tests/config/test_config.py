import pytest

from scratchdet.config import ConfigError, get_scratchdet_cfg, load_config_file
from scratchdet.engine.setup.checks import check_run_config
from tests.conftest import DEMO_CONFIG


def test_add_scratchdet_config_adds_keys_with_defaults():
    cfg = get_scratchdet_cfg()
    assert cfg.SCRATCHDET.DATA.TRAIN_MAPPER == "DatasetMapper"
    assert cfg.SCRATCHDET.DATA.ON_BAD_ANNOTATION == "error"
    assert cfg.SCRATCHDET.HOOKS == []
    # every key of the topic functions has a comment in its source (PointRend style)
    import inspect

    from scratchdet.config import defaults

    src = inspect.getsource(defaults.add_scratchdet_config).splitlines()
    for i, line in enumerate(src):
        if line.strip().startswith("_C.SCRATCHDET.") and "CN()" not in line:
            assert src[i - 1].strip().startswith("#") or src[i - 2].strip().startswith("#"), line


def test_unknown_key_names_the_key_and_suggests():
    with pytest.raises(ConfigError, match=r"SOLVER.BASE_LRR.*Did you mean SOLVER.BASE_LR"):
        load_config_file(DEMO_CONFIG, ["SOLVER.BASE_LRR", "0.1"])


def test_unknown_key_in_file(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("MODEL:\n  RESNETS:\n    DEPTHH: 18\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*MODEL.RESNETS.DEPTH"):
        load_config_file(str(f))


def test_missing_config_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config_file("no/such/file.yaml")


def test_gn_with_indivisible_channels_is_a_config_error():
    cfg = load_config_file(DEMO_CONFIG, ["MODEL.FPN.NORM", "GN", "MODEL.FPN.OUT_CHANNELS", "48"])
    with pytest.raises(ConfigError, match=r"MODEL.FPN.NORM='GN'.*48.*MODEL.FPN.OUT_CHANNELS"):
        check_run_config(cfg)


def test_gn_with_divisible_channels_passes():
    cfg = load_config_file(DEMO_CONFIG, ["MODEL.FPN.NORM", "GN", "MODEL.ROI_BOX_HEAD.NORM", "GN"])
    check_run_config(cfg)


def test_syncbn_single_process_is_an_error_for_training_only():
    cfg = load_config_file(DEMO_CONFIG, ["MODEL.RESNETS.NORM", "SyncBN"])
    with pytest.raises(ConfigError, match=r"single process.*--num-gpus"):
        check_run_config(cfg, world_size=1)
    check_run_config(cfg, world_size=1, training=False)


def test_syncbn_on_cpu_with_two_processes_suggests_naive():
    cfg = load_config_file(DEMO_CONFIG, ["MODEL.FPN.NORM", "SyncBN"])
    with pytest.raises(ConfigError, match="naiveSyncBN"):
        check_run_config(cfg, world_size=2)


def test_syncbn_in_head_that_sees_empty_batches():
    cfg = load_config_file(DEMO_CONFIG, ["MODEL.ROI_MASK_HEAD.NORM", "SyncBN"])
    with pytest.raises(ConfigError, match=r"MODEL.ROI_MASK_HEAD.NORM.*naiveSyncBN_N"):
        check_run_config(cfg, world_size=8, training=False)


def test_flag_among_opts_is_explained():
    with pytest.raises(ConfigError, match="--resume stands among the KEY VALUE opts"):
        load_config_file(DEMO_CONFIG, ["SOLVER.MAX_ITER", "3", "--resume", "OUTPUT_DIR", "x"])


def test_phase1_keys_can_be_set_from_the_command_line():
    cfg = load_config_file(DEMO_CONFIG, ["SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "7",
                                         "SCRATCHDET.PHASE1.INPUT.MIN_SIZE_TRAIN", "(64,)"])
    assert cfg.SCRATCHDET.PHASE1.SOLVER.MAX_ITER == 7 and cfg.SCRATCHDET.PHASE1.INPUT.MIN_SIZE_TRAIN == (64,)
    with pytest.raises(ConfigError, match="Unknown config key 'SCRATCHDET.PHASE1.SOLVER.MAX_ITERS'"):
        load_config_file(DEMO_CONFIG, ["SCRATCHDET.PHASE1.SOLVER.MAX_ITERS", "7"])


def test_wrong_type_on_command_line():
    with pytest.raises(ConfigError, match="Type mismatch"):
        load_config_file(DEMO_CONFIG, ["SCRATCHDET.RUN_PHASES", "1"])


def test_phase1_block_values_have_their_types(tmp_path):
    """A tuple in the PHASE1 block of a yaml file is a tuple, so the command line can override it."""
    f = tmp_path / "p.yaml"
    f.write_text("SCRATCHDET:\n  PHASE1:\n    ENABLED: True\n    SOLVER:\n      STEPS: (400,)\n")
    cfg = load_config_file(str(f), ["SCRATCHDET.PHASE1.SOLVER.STEPS", "(320,)"])
    assert cfg.SCRATCHDET.PHASE1.SOLVER.STEPS == (320,)
    assert load_config_file(str(f)).SCRATCHDET.PHASE1.SOLVER.STEPS == (400,)
