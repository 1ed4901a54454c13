"""Bad config files, opts and schedule values through train_net.py (in-process): exit code 2 and
a first line of stderr that names the file or the key, and nothing written to OUTPUT_DIR for
errors found while reading the config."""

import os

import pytest

from tests.conftest import DEMO_CONFIG, REPO, TINY_OPTS, assert_user_error, run_cli

PHASED_CONFIG = os.path.join(REPO, "projects", "DirectPretrain", "configs", "faster_rcnn_R18_FPN_direct_shapes_cpu.yaml")


# ---------------------------------------------------------------- config files
def _write(path, content):
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(path, mode) as f:
        f.write(content)
    return str(path)


FILES = {
    "missing_base": ({"c.yaml": "_BASE_: nope.yaml\nSOLVER:\n  MAX_ITER: 3\n"}, ["c.yaml", "nope.yaml"]),
    "missing_base_in_list": ({"c.yaml": "_BASE_: [ok.yaml, gone.yaml]\n", "ok.yaml": "SOLVER:\n  MAX_ITER: 3\n"},
                             ["c.yaml", "gone.yaml"]),
    "missing_base_of_base": ({"c.yaml": "_BASE_: b.yaml\n", "b.yaml": "_BASE_: deeper.yaml\n"}, ["b.yaml", "deeper.yaml"]),
    "not_yaml": ({"c.yaml": "SOLVER: [\n  MAX_ITER: 3\n"}, ["c.yaml", "not valid YAML"]),
    "tab_indent": ({"c.yaml": "SOLVER:\n\tMAX_ITER: 3\n"}, ["c.yaml", "not valid YAML", "line 2"]),
    "binary": ({"c.yaml": bytes(range(256)) * 4}, ["c.yaml", "binary"]),
    "nul_bytes": ({"c.yaml": b"SOLVER:\x00\x00\x00"}, ["c.yaml", "binary"]),
    "top_level_list": ({"c.yaml": "- SOLVER\n- MODEL\n"}, ["c.yaml", "a list"]),
    "top_level_scalar": ({"c.yaml": "just some words\n"}, ["c.yaml", "single value"]),
    "empty": ({"c.yaml": ""}, ["c.yaml", "empty"]),
    "base_is_list_file": ({"c.yaml": "_BASE_: l.yaml\n", "l.yaml": "- 1\n- 2\n"}, ["l.yaml", "a list"]),
    "base_cycle": ({"c.yaml": "_BASE_: b.yaml\n", "b.yaml": "_BASE_: c.yaml\n"}, ["its own _BASE_"]),
    "base_not_a_name": ({"c.yaml": "_BASE_:\n  A: 1\n"}, ["c.yaml", "_BASE_"]),
    "node_given_a_value": ({"c.yaml": "SOLVER: 3\n"}, ["c.yaml", "SOLVER"]),
    "wrong_type_in_file": ({"c.yaml": "SOLVER:\n  MAX_ITER: many\n"}, ["c.yaml", "SOLVER.MAX_ITER"]),
    "unknown_key_in_base": ({"c.yaml": "_BASE_: b.yaml\n", "b.yaml": "SOLVER:\n  MAX_ITERS: 3\n"}, ["SOLVER.MAX_ITER"]),
}


@pytest.mark.parametrize("case", sorted(FILES))
def test_bad_config_file(case, tmp_path):
    files, names = FILES[case]
    for name, content in files.items():
        _write(tmp_path / name, content)
    out = tmp_path / "out"
    code, err = run_cli(["--config-file", str(tmp_path / "c.yaml"), "OUTPUT_DIR", str(out)])
    assert_user_error(code, err, *names)
    assert not out.exists()  # refused before anything was written


def test_config_file_that_is_a_folder(tmp_path):
    (tmp_path / "c.yaml").mkdir()
    code, err = run_cli(["--config-file", str(tmp_path / "c.yaml"), "OUTPUT_DIR", str(tmp_path / "out")])
    assert_user_error(code, err, "c.yaml")


# ---------------------------------------------------------------- opts
OPTS = {
    "key_without_value_in_middle": (["SOLVER.MAX_ITER", "OUTPUT_DIR", "x"], ["SOLVER.MAX_ITER", "no value"]),
    "two_keys_without_values": (["SOLVER.BASE_LR", "SOLVER.MAX_ITER", "3", "TEST.EVAL_PERIOD"], ["SOLVER.BASE_LR", "no value"]),
    "last_key_without_value": (["SOLVER.MAX_ITER", "3", "TEST.EVAL_PERIOD"], ["TEST.EVAL_PERIOD", "no value"]),
    "phase1_key_as_value": (["SOLVER.MAX_ITER", "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "3", "x"], ["SOLVER.MAX_ITER", "no value"]),
    "wrong_type": (["SOLVER.MAX_ITER", "many"], ["SOLVER.MAX_ITER", "int"]),
    "tuple_for_int": (["SOLVER.IMS_PER_BATCH", "(2, 4)"], ["SOLVER.IMS_PER_BATCH"]),
}


@pytest.mark.parametrize("case", sorted(OPTS))
def test_bad_opts(case, tmp_path):
    opts, names = OPTS[case]
    out = tmp_path / "out"
    code, err = run_cli(["--config-file", DEMO_CONFIG, "OUTPUT_DIR", str(out), *opts])
    assert_user_error(code, err, *names)
    assert not out.exists()


# ---------------------------------------------------------------- schedule values
VALUES = {
    "max_iter_zero": (["SOLVER.MAX_ITER", "0"], "SOLVER.MAX_ITER"),
    "max_iter_negative": (["SOLVER.MAX_ITER", "-5"], "SOLVER.MAX_ITER"),
    "ims_per_batch_zero": (["SOLVER.IMS_PER_BATCH", "0"], "SOLVER.IMS_PER_BATCH"),
    "base_lr_zero": (["SOLVER.BASE_LR", "0.0"], "SOLVER.BASE_LR"),
    "base_lr_negative": (["SOLVER.BASE_LR", "-0.02"], "SOLVER.BASE_LR"),
    "base_lr_nan": (["SOLVER.BASE_LR", "float('nan')"], "SOLVER.BASE_LR"),
    "warmup_iters_negative": (["SOLVER.WARMUP_ITERS", "-10"], "SOLVER.WARMUP_ITERS"),
    "warmup_factor_above_one": (["SOLVER.WARMUP_FACTOR", "2.0"], "SOLVER.WARMUP_FACTOR"),
    "warmup_method_unknown": (["SOLVER.WARMUP_METHOD", "cubic"], "SOLVER.WARMUP_METHOD"),
    "weight_decay_negative": (["SOLVER.WEIGHT_DECAY", "-0.0001"], "SOLVER.WEIGHT_DECAY"),
    "momentum_negative": (["SOLVER.MOMENTUM", "-0.9"], "SOLVER.MOMENTUM"),
    "gamma_zero": (["SOLVER.GAMMA", "0.0"], "SOLVER.GAMMA"),
    "steps_decreasing": (["SOLVER.STEPS", "(300, 100)"], "SOLVER.STEPS"),
    "steps_negative": (["SOLVER.STEPS", "(-1,)"], "SOLVER.STEPS"),
    "checkpoint_period_zero": (["SOLVER.CHECKPOINT_PERIOD", "0"], "SOLVER.CHECKPOINT_PERIOD"),
    "max_to_keep_negative": (["SCRATCHDET.CHECKPOINT.MAX_TO_KEEP", "-1"], "SCRATCHDET.CHECKPOINT.MAX_TO_KEEP"),
    "scheduler_unknown": (["SOLVER.LR_SCHEDULER_NAME", "WarmupPolyLR"], "SOLVER.LR_SCHEDULER_NAME"),
    "eval_period_negative": (["TEST.EVAL_PERIOD", "-1"], "TEST.EVAL_PERIOD"),
    "num_workers_negative": (["DATALOADER.NUM_WORKERS", "-2"], "DATALOADER.NUM_WORKERS"),
    "clip_value_zero": (["SOLVER.CLIP_GRADIENTS.ENABLED", "True", "SOLVER.CLIP_GRADIENTS.CLIP_VALUE", "0.0"],
                        "SOLVER.CLIP_GRADIENTS.CLIP_VALUE"),
}


@pytest.mark.parametrize("case", sorted(VALUES))
def test_bad_schedule_value(case, tmp_path):
    opts, key = VALUES[case]
    code, err = run_cli(["--config-file", DEMO_CONFIG, *TINY_OPTS, "OUTPUT_DIR", str(tmp_path), *opts])
    assert_user_error(code, err, key)
    assert not any(f.endswith(".pth") for f in os.listdir(tmp_path))


def test_several_bad_values_first_one_on_the_first_line(tmp_path):
    code, err = run_cli(["--config-file", DEMO_CONFIG, *TINY_OPTS, "OUTPUT_DIR", str(tmp_path),
                         "SOLVER.MAX_ITER", "0", "SOLVER.BASE_LR", "-1.0"])
    assert_user_error(code, err, "SOLVER.MAX_ITER")
    assert "SOLVER.BASE_LR" in err


def test_bad_value_in_the_phase1_block_is_named_in_the_block(tmp_path):
    code, err = run_cli(["--config-file", PHASED_CONFIG, "OUTPUT_DIR", str(tmp_path), "DATALOADER.NUM_WORKERS", "0",
                         "SCRATCHDET.PHASE1.SOLVER.MAX_ITER", "0"])
    assert_user_error(code, err, "SCRATCHDET.PHASE1.SOLVER.MAX_ITER")


def test_eval_only_does_not_check_the_schedule(tmp_path):
    """An evaluation does not train: SOLVER values do not stop it (it fails later, for lack of weights)."""
    code, err = run_cli(["--config-file", DEMO_CONFIG, "--eval-only", *TINY_OPTS, "OUTPUT_DIR", str(tmp_path),
                         "SOLVER.MAX_ITER", "0"])
    assert_user_error(code, err, "MODEL.WEIGHTS")


def test_python_yaml_tag_is_refused_without_running_it(tmp_path, monkeypatch):
    """detectron2 falls back to yaml.unsafe_load for !!python tags: scratchdet refuses them (naming
    the file and the opt-in) before anything is constructed, so the tag's code never runs."""
    from scratchdet.config import ConfigError, load_config_file
    from scratchdet.config.loading import UNSAFE_YAML_ENV

    marker = tmp_path / "code_ran"
    base = tmp_path / "base.yaml"
    base.write_text(f'SOLVER:\n  MAX_ITER: !!python/object/apply:os.system ["touch {marker}"]\n')
    child = tmp_path / "child.yaml"
    child.write_text(f"_BASE_: {base.name}\nSOLVER:\n  BASE_LR: 0.1\n")
    monkeypatch.delenv(UNSAFE_YAML_ENV, raising=False)
    for path in (base, child):
        with pytest.raises(ConfigError, match=rf"base.yaml uses the YAML tag !!python/object/apply:os.system.*{UNSAFE_YAML_ENV}=1"):
            load_config_file(str(path))
    assert not marker.exists()
    # The explicit opt-in reads a trusted file as detectron2 would (here: a harmless tag).
    trusted = tmp_path / "trusted.yaml"
    trusted.write_text('SOLVER:\n  MAX_ITER: !!python/object/apply:int ["7"]\n')
    monkeypatch.setenv(UNSAFE_YAML_ENV, "1")
    assert load_config_file(str(trusted)).SOLVER.MAX_ITER == 7


def test_every_shipped_config_is_safe_yaml():
    import glob

    import yaml

    from scratchdet.config.loading import _python_tag

    files = glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True)
    files += glob.glob(os.path.join(REPO, "projects", "**", "*.yaml"), recursive=True)
    assert len(files) > 20
    tagged = [f for f in files if _python_tag(yaml.compose(open(f).read()))]
    assert tagged == []
