"""Config as data: defaults, TOML recipes, --set overrides, and errors that name the key."""

from pathlib import Path

import pytest

from jazzgen.config import Config, load_config, parse_set_options
from jazzgen.errors import UsageError

PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"


def test_defaults_then_recipe_then_set(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[train]\nepochs = 7\n[model]\ncell = 'gru'\n")
    cfg = load_config(recipe, ("train.epochs=3", "model.units=32"))
    assert cfg.train.epochs == 3  # --set wins over the recipe
    assert cfg.model.cell == "gru" and cfg.model.units == 32
    assert cfg.train.batch_size == Config().train.batch_size  # untouched default


def test_round_trip_through_dict():
    cfg = load_config(None, ("train.epochs=3", "preprocess.sources=[\"a\", \"b\"]"))
    assert Config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("pairs, words", [
    (("train.epochz=3",), "train.epochz"),
    (("trian.epochs=3",), "[trian]"),
    (("train.epochs=three",), "train.epochs"),
    (("epochs=3",), "section.key=value"),
])
def test_bad_overrides_name_the_problem(pairs, words):
    with pytest.raises(UsageError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, pairs)


def test_every_shipped_recipe_loads():
    recipes = sorted(PIPELINES.glob("*.toml"))
    assert recipes, "no recipes in pipelines/"
    for recipe in recipes:
        load_config(recipe)


def test_parse_set_options_groups_by_section():
    assert parse_set_options(["a.b=1", "a.c=x", "d.e=2"]) == {"a": {"b": "1", "c": "x"}, "d": {"e": "2"}}
