"""JSON Schema keywords are keywords only at keyword positions: a parameter named `format`, `default`, `examples`,
`pattern` or `title` is a name, and the tools, the validators and the exports treat it as one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import jsonschema
import polars as pl
import yaml
from click.testing import CliRunner
from pydantic import BaseModel

from agentfab.flows.cli import main
from agentfab.formats.export.chat import tool_functions
from agentfab.schemas.keywords import position, rewrite
from agentfab.worlds.authoring import Arg, json_schema_of, spec_from_function, tool
from agentfab.worlds.core import Store, is_error
from agentfab.worlds.declared import declared_domain_from_dict

COLLIDING = ("format", "default", "examples", "pattern", "title")

GALLERY = {
    "name": "gallery",
    "description": "A small photo gallery.",
    "entities": {"Photo": {"id_format": "PH-{n:03d}", "count": 12, "fields": {
        "format": {"type": "string", "choices": ["jpeg", "png", "raw"], "searchable": True},
        "default": {"type": "boolean"},
        "examples": {"type": "integer", "min": 1, "max": 50, "aggregate": ["max"]},
        "pattern": {"type": "string", "choices": ["stripes", "dots"], "searchable": True},
        "title": {"type": "string", "faker": "sentence"},
    }}},
}
NEW_PHOTO = {"format": "png", "default": True, "examples": 3, "pattern": "dots", "title": "Harbour at dawn"}


def test_rewrite_drops_keywords_and_keeps_property_names_and_data():
    schema = {
        "type": "object", "title": "T", "x-entity": "thing",
        "properties": {name: {"type": "string", "title": name, "x-entity": name} for name in (*COLLIDING, "x-note")},
        "items": [{"title": "first"}], "anyOf": [{"title": "a"}], "not": {"title": "n"},
        "default": {"title": "kept: a default is data"}, "enum": [{"x-entity": "kept"}],
    }
    out = rewrite(schema, drop=lambda k: k == "title" or k.startswith("x-"))
    assert set(out["properties"]) == {*COLLIDING, "x-note"}
    assert all(sub == {"type": "string"} for sub in out["properties"].values())
    assert out["items"] == [{}] and out["anyOf"] == [{}] and out["not"] == {}
    assert out["default"] == {"title": "kept: a default is data"} and out["enum"] == [{"x-entity": "kept"}]
    assert "title" not in out and "x-entity" not in out
    assert position("properties", {}) == "map" and position("items", []) == "list"
    assert position("items", {}) == "one" and position("format", "date") == "data"


class Poster(BaseModel):
    title: str
    format: str


@tool()
def hang_poster(store: Store, format: Annotated[str, Arg("Paper size", examples=["A3"])], pattern: str = "plain",
                examples: int = 1) -> Poster:
    """Hang a poster."""
    return Poster(title="poster", format=format)


def test_a_python_tool_with_colliding_parameter_names_validates_its_calls():
    spec = spec_from_function(hang_poster, "posters")
    assert set(spec.parameters["properties"]) == {"format", "pattern", "examples"}
    assert spec.parameters["required"] == ["format"]
    assert set(json_schema_of(Poster)["properties"]) == {"title", "format"}  # $ref inlined, names kept
    jsonschema.Draft202012Validator.check_schema(spec.parameters)
    from agentfab.worlds.core import Tool

    check = Tool(spec=spec, run=hang_poster).check
    assert check({"format": "A3", "pattern": "dots", "examples": 2}) is None
    assert check({"format": "A3"}) is None
    assert "must be string" in check({"format": 3})  # negative controls
    assert "must contain ['format']" in check({"pattern": "dots"})
    assert "must not contain" in check({"format": "A3", "colour": "red"})


def test_a_declared_field_named_like_a_keyword_works_end_to_end():
    domain = declared_domain_from_dict(GALLERY)
    store = domain.seeded(3)
    create = domain.tool("create_photo")
    assert set(COLLIDING) <= set(create.spec.parameters["properties"])
    made = create.invoke(store, NEW_PHOTO)
    assert not is_error(made) and made["format"] == "png" and made["pattern"] == "dots"
    found = domain.tool("search_photos_by_format").invoke(store, {"format": "png"})
    assert made in found["results"]
    assert domain.tool("max_photo_examples").invoke(store, {}) is not None
    bad = create.invoke(store, {**NEW_PHOTO, "format": "gif"})
    assert is_error(bad) and "format" in bad["error"]["message"]
    missing = create.invoke(store, {k: v for k, v in NEW_PHOTO.items() if k != "examples"})
    assert is_error(missing) and "examples" in missing["error"]["message"]


def test_exports_drop_only_extension_keywords():
    params = {"type": "object", "x-entity": "photo",
              "properties": {"x-entity": {"type": "string", "x-entity": "tag"}, "format": {"type": "string"}}}
    row = {"id": "r", "tools": [{"name": "t", "description": "d", "parameters": json.dumps(params)}]}
    (spec,) = tool_functions(row)
    assert spec["parameters"] == {"type": "object",
                                  "properties": {"x-entity": {"type": "string"}, "format": {"type": "string"}}}


def test_a_build_over_a_declared_domain_by_relative_path_validates_from_another_folder(tmp_path, monkeypatch):
    from fixtures.small_builds import make_build

    recipes = tmp_path / "recipes"
    (recipes / "domains").mkdir(parents=True)
    (recipes / "domains" / "gallery.yaml").write_text(yaml.safe_dump(GALLERY))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither the build nor the check runs where the recipe is
    build = make_build(tmp_path / "out", {"name": "gal", "seed": 2, "records": 80, "shard_size": 80,
                                          "worlds": [{"declared": "domains/gallery.yaml"}], "negatives": 0.3},
                       recipe_dir=recipes)
    meta = json.loads((build / "build.json").read_text())
    assert meta["world_files"] == {"domains/gallery.yaml": str((recipes / "domains" / "gallery.yaml").resolve())}
    rows = pl.read_parquet(build / "shards" / "*.parquet")
    calls = rows.explode("content").unnest("content").filter(pl.col("class_") == "api_action")
    assert calls["kwargs"].str.contains('"format":').any()  # calls really carried the colliding names
    result = CliRunner().invoke(main, ["validate", str(build), "--rejected"])
    assert result.exit_code == 0, result.output
    rejected = pl.read_parquet(build / "rejected" / "*.parquet").height
    assert f"checked {rows.height + rejected} rows: 0 failed" in result.output
