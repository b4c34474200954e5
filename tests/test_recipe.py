"""A bad recipe is refused before any work, naming the field, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentfab.flows.recipe import RecipeError, load_recipe, parse_recipe

GOOD = {"name": "r", "records": 10, "worlds": ["bank"]}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"tasks": {"depth": {"max": 9}}}, "r.yaml: tasks.depth.max: must be <= 6, got 9"),
        ({"worlds": ["bnak"]}, "unknown world 'bnak' (built-in: bank, calendar, library, shop, travel"),
        ({"colour": "red"}, "r.yaml: colour: unknown key (allowed: name, seed, records"),
        ({"tasks": {"mixx": {}}}, "r.yaml: tasks.mixx: unknown key (allowed: mix, depth, width, distractors, intents)"),
        ({"tasks": {"mix": {"single": 1, "chains": 1}}}, "unknown task kind 'chains' (allowed: single, parallel"),
        ({"records": 0}, "r.yaml: records: must be >= 1, got 0"),
        ({"negatives": 1.5}, "r.yaml: negatives: must be <= 1, got 1.5"),
        ({"worlds": [{"declared": "x.yaml", "extra": 1}]}, "worlds[0].extra: unknown key (allowed: declared)"),
        ({"worlds": [{"extra": 1}]}, "worlds[0]: must be a built-in world name"),
        ({"rollouts": {"agent": "gpt"}}, "r.yaml: rollouts.agent:"),
        ({"worlds": ["bank", "bank"]}, "a world is listed twice"),
    ],
)
def test_a_bad_recipe_names_the_field_and_the_fix(change, message):
    with pytest.raises(RecipeError) as err:
        parse_recipe({**GOOD, **change}, "r.yaml")
    assert message in str(err.value)
    assert "Traceback" not in str(err.value)


def test_a_missing_required_key_is_named():
    with pytest.raises(RecipeError, match="r.yaml: name: required, but missing"):
        parse_recipe({"records": 1, "worlds": ["bank"]}, "r.yaml")


def test_broken_yaml_reports_the_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nrecords: [1, 2\nworlds: [bank]\n")
    with pytest.raises(RecipeError, match=r"broken.yaml: not valid YAML at line \d+"):
        load_recipe(path)


def test_cli_overrides_are_validated_too(tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nrecords: 5\nworlds: [bank]\n")
    recipe, _ = load_recipe(path, {"records": 50, "seed": 3})
    assert (recipe.records, recipe.seed) == (50, 3)
    with pytest.raises(RecipeError, match="records: must be >= 1"):
        load_recipe(path, {"records": -1})


def test_the_recipe_hash_changes_with_content_only():
    a = parse_recipe(dict(GOOD))
    b = parse_recipe({**GOOD, "tasks": {"mix": {"single": .15, "parallel": .15, "chain": .2, "compound": .1,
                                                "multi_turn": .15, "irrelevant": .1, "clarify": .15}}})
    assert a.hash() == b.hash()  # spelling out the defaults is the same recipe
    assert a.hash() != parse_recipe({**GOOD, "seed": 1}).hash()


def test_the_committed_quickstart_recipe_is_valid():
    recipe, _ = load_recipe(Path(__file__).resolve().parents[1] / "data" / "recipes" / "quickstart.yaml")
    assert recipe.records >= 2000 and len(recipe.worlds) >= 4
