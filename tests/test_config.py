"""The run configuration: defaults, TOML presets, demo settings, validation."""

from __future__ import annotations

import dataclasses

import pytest

from mpx_eval.config import DEMO_SETTINGS, RunConfig, dump_toml, read_toml, resolve
from mpx_eval.errors import MpxEvalError

from .conftest import REPO


def test_default_toml_spells_out_the_code_defaults():
    assert resolve(config_file=REPO / "configs" / "default.toml") == RunConfig()


def test_blog_hyper_parameters_are_the_defaults():
    cfg = RunConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.learning_rate) == (50, 32, 1e-4)
    assert (cfg.seed, cfg.validation_split, cfg.models) == (123, 0.2, ("t3", "t4"))


@pytest.mark.parametrize("name", ["quick.toml", "msld.toml"])
def test_shipped_presets_load(name):
    assert isinstance(resolve(config_file=REPO / "configs" / name), RunConfig)


def test_resolved_config_round_trips(tmp_path):
    cfg = RunConfig(group_pattern=r"^([^_]+)_", image_size=96, models=("t4", "pkg.mod:net"))
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(cfg))
    assert resolve(config_file=path) == cfg


def test_precedence_file_then_demo_then_cli(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[training]\nbatch_size = 4\n")
    cfg = resolve(config_file=path, overrides={"demo": True, "epochs": 3})
    assert cfg.batch_size == 4  # the file's explicit value beats the demo setting
    assert cfg.image_size == DEMO_SETTINGS["image_size"]
    assert cfg.epochs == 3
    assert resolve(overrides={"image_size": 32, "demo": True}).image_size == 32


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[training]\nepoch = 5\n", "unknown key 'epoch' in \\[training\\]"),
        (
            "[protocol]\nepochs = 5\n",
            "'epochs' in \\[protocol\\] \\(it belongs in \\[training\\]\\)",
        ),
        ("[training]\nepochs = 'many'\n", "'epochs' must be an integer, got str"),
        ("[training]\nmodels = 't4'\n", None),
        ("[data]\ndemo = 1\n", "'demo' must be true or false"),
        ("[extras]\nx = 1\n", "unknown section \\[extras\\]"),
        ("[training\nepochs = 1\n", "not valid TOML"),
    ],
)
def test_config_file_errors_name_the_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    if message is None:
        assert resolve(config_file=path).models == ("t4",)
        return
    with pytest.raises(MpxEvalError, match=message):
        read_toml(path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"folds": 1}, "folds must be 0"),
        ({"folds": -3}, "folds must be 0"),
        ({"epochs": 0}, "epochs must be a positive"),
        ({"batch_size": -1}, "batch_size must be a positive"),
        ({"models": ("t5",)}, "unknown model 't5'"),
        ({"models": ("t4", "t4")}, "lists a model twice"),
        ({"device": "tpu"}, "device must be one of"),
        ({"group_pattern": "("}, "does not compile"),
        ({"inner_fraction": 0.7}, "inner_fraction must be between"),
        ({"image_size": 8}, "image_size must be between"),
        ({"threads": 0}, "threads must be a positive"),
    ],
)
def test_invalid_values(changes, message):
    with pytest.raises(MpxEvalError, match=message):
        dataclasses.replace(RunConfig(), **changes)


def test_identity_ignores_where_a_run_happens():
    a = RunConfig(out="x", device="cpu", executor="local")
    b = RunConfig(out="y", device="gpu", executor="ray", threads=1)
    assert a.identity() == b.identity()
    assert a.identity() != RunConfig(epochs=3).identity()


def test_repeats_at_one_leave_the_identity_and_config_toml_as_before():
    single = RunConfig()
    assert "repeats" not in single.identity()
    assert "repeats" not in dump_toml(single)
    repeated = RunConfig(repeats=3)
    assert repeated.identity()["repeats"] == 3
    assert "repeats = 3" in dump_toml(repeated)


def test_a_run_recorded_before_checkpoint_rules_reads_back_with_the_rule_it_used():
    from mpx_eval.config import config_from_toml_text

    old = dump_toml(RunConfig()).replace(f"checkpoint = '{RunConfig.checkpoint}'\n", "")
    config, unrecorded = config_from_toml_text(old)
    assert "checkpoint" in unrecorded
    assert config.checkpoint == "val-accuracy"  # the only rule before the option existed
    assert RunConfig(checkpoint="val-loss").identity()["checkpoint"] == "val-loss"
    with pytest.raises(MpxEvalError, match="checkpoint must be one of val-loss, val-accuracy"):
        RunConfig(checkpoint="best")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"repeats": 0}, "repeats must be an integer from 1 to 100, got 0"),
        ({"repeats": 2, "folds": 0}, "repeats 2 needs cross-validation"),
    ],
)
def test_invalid_repeats(changes, message):
    with pytest.raises(MpxEvalError, match=message):
        dataclasses.replace(RunConfig(), **changes)


@pytest.mark.parametrize(
    "text", ["runs\rold", "data\x7fdir", "tab\there", "q'uote\\and\"dq", "é ✓"]
)
def test_any_path_round_trips_through_config_toml(text):
    from mpx_eval.config import config_from_toml_text

    cfg = RunConfig(out=text, data_dir=text, group_pattern=f"^({text})_")
    back, _ = config_from_toml_text(dump_toml(cfg))
    assert (back.out, back.data_dir, back.group_pattern) == (
        cfg.out,
        cfg.data_dir,
        cfg.group_pattern,
    )


def test_a_bad_choice_in_a_config_file_names_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[report]\nimages = "some"\n')
    with pytest.raises(MpxEvalError, match=r"config file .*c\.toml: images must be one of all"):
        resolve(config_file=path)
    assert resolve(config_file=path, overrides={"images": "none"}).images == "none"
