"""Configs: presets within their budgets, TOML that reads back equal, one-line errors."""

from __future__ import annotations

import pytest

from edgecnn.errors import EdgeCnnError
from edgecnn.train.config import read_config, to_toml, write_config
from edgecnn.train.model import build_model
from edgecnn.train.presets import PRESETS, get_preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_round_trips_through_toml(tmp_path, name):
    config = get_preset(name)
    write_config(tmp_path / "c.toml", config)
    assert read_config(tmp_path / "c.toml") == config


@pytest.mark.parametrize(("name", "budget"), [("tiny", 25_000), ("default", 100_000)])
def test_presets_stay_within_their_parameter_budget(name, budget):
    assert build_model(get_preset(name)).count_params() <= budget


def test_partial_config_takes_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[[model.conv]]\nfilters = 8\npool = "sum"\n\n[training]\nepochs = 1\n')
    config = read_config(path)
    block = config.model.conv[0]
    assert (block.filters, block.kernel_size, block.pool, block.pool_stride) == (8, 3, "sum", 2)
    assert config.training.epochs == 1
    assert "pool_stride = 2" in to_toml(config)  # the resolved value is what gets written


BAD = [
    ("[model]\nhead = 'flatten'\n", "at least one"),
    ("[[model.conv]]\nfilters = 8\npadding = 'full'\n", "padding must be valid or same"),
    ("[[model.conv]]\nfilters = 8\npool = 'median'\n", "pool must be max, avg, sum or none"),
    ("[[model.conv]]\nfilters = 0\n", "filters must be at least 1"),
    ("[[model.conv]]\nfilters = 'many'\n", "must be an integer"),
    ("[[model.conv]]\nkernel_size = 3\n", "has no 'filters'"),
    ("[[model.conv]]\nfilters = 8\ncolour = 'red'\n", "unknown key model.conv[1].colour"),
    ("[[model.conv]]\nfilters = 8\n[training]\nepoch = 3\n", "unknown key training.epoch"),
    ("[[model.conv]]\nfilters = 8\n[training]\nepochs = 0\n", "must be at least 1"),
    ("[[model.conv]]\nfilters = 8\n[training]\nlearning_rate = -1\n", "positive"),
    ("[[model.conv]]\nfilters = 8\n[training]\nvalidation_split = 1.5\n", "(0, 1)"),
    ("[[model.conv]]\nfilters = 8\n[training]\naugment = 'yes'\n", "true or false"),
    ("[[model.conv]]\nfilters = 8\n[training]\nepochs = 4\nwarmup_epochs = 4\n", "less than"),
    ("[[model.conv]]\nfilters = 8\n[training]\nrandom_erasing = 1.5\n", "in [0, 1]"),
    ("[[model.conv]]\nfilters = 8\n[training]\nmixup = -0.2\n", "0 turns mixup off"),
    ("[[model.conv]]\nfilters = 8\n[model]\nhead = 'deep'\n", "flatten or global_avg"),
    ("[[model.conv]]\nfilters = 8\nkernel_size = 30\npadding = 'valid'\n", "feature map"),
    ("[model\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_config_is_one_line_naming_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(EdgeCnnError) as info:
        read_config(path)
    assert "\n" not in str(info.value)
    assert message in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(EdgeCnnError, match="cannot read config"):
        read_config(tmp_path / "nope.toml")


def test_unknown_preset():
    with pytest.raises(EdgeCnnError, match="choose one of tiny, default"):
        get_preset("huge")


def test_any_config_name_makes_a_valid_model_name():
    config = get_preset("tiny")
    config.name = "tiny+mixup=0.2 (try 2)"
    assert build_model(config).name == "tiny_mixup_0.2__try_2_"
