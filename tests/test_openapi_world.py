"""OpenAPI worlds: a document's own operations become executable tools over seeded state, and a build over them
only ever calls operations of the document with arguments valid under the document's own parameter schemas."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import polars as pl
import pytest
import yaml
from click.testing import CliRunner
from small_builds import make_build

from agentfab.flows.cli import main
from agentfab.flows.openapi_world import inferred
from agentfab.flows.revalidate import revalidate
from agentfab.generators.values import PoolCache, sample_arguments
from agentfab.worlds.core import is_error
from agentfab.worlds.openapi import OpenAPIWorldError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {"bike_share": ROOT / "data" / "openapi" / "bike_share.yaml",
            "conference_program": ROOT / "data" / "openapi" / "conference.yaml"}
METHODS = ("get", "put", "post", "delete", "patch")


def _pointer(doc: dict, ref: str) -> dict:
    out = doc
    for part in ref[2:].split("/"):
        out = out[part]
    return out


def own_schemas(doc: dict) -> dict[str, dict]:
    """operationId -> a JSON Schema of its arguments written from the raw document (refs left to jsonschema)."""
    out = {}
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            props, required = {}, []
            for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
                param = _pointer(doc, raw["$ref"]) if "$ref" in raw else raw
                props[param["name"]] = param["schema"]
                if param["in"] == "path" or param.get("required"):
                    required.append(param["name"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is not None:
                body = _pointer(doc, body["$ref"]) if "$ref" in body else body
                props.update(body.get("properties", {}))
                if op["requestBody"].get("required"):
                    required += body.get("required", [])
            out[op["operationId"]] = {"type": "object", "properties": props, "required": required,
                                      "additionalProperties": False, "components": doc.get("components", {})}
    return out


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_keeps_the_documents_operations_and_lists_the_rest_with_reasons(name):
    domain, skipped = inferred(str(EXAMPLES[name]))
    doc = yaml.safe_load(EXAMPLES[name].read_text())
    schemas = own_schemas(doc)
    assert domain.name == name
    kept = {t.name for t in domain.tools}
    left = {s.operation.rsplit("(", 1)[1].rstrip(")") for s in skipped}
    assert kept | left == set(schemas) and not kept & left
    assert len(kept) >= 10 and len(skipped) == 2
    assert all(s.reason for s in skipped)
    for t in domain.tools:
        op = next(item[m] for item in doc["paths"].values() for m in METHODS if item.get(m, {}).get("operationId")
                  == t.name)
        assert t.spec.description.startswith(op["summary"]) and t.spec.source == "openapi"
        assert set(t.spec.parameters["properties"]) == set(schemas[t.name]["properties"])
        assert set(t.spec.parameters.get("required", [])) == set(schemas[t.name]["required"])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_tool_executes_and_its_results_match_the_documents_response_schema(name):
    domain, _ = inferred(str(EXAMPLES[name]))
    store = domain.seeded(3)
    pools = PoolCache(domain, store)
    rng = random.Random(1)
    for t in domain.tools:
        ok = 0
        for _ in range(10):
            args = sample_arguments(t, pools, rng)
            result = t.invoke(store.fork(), args)
            if not is_error(result):
                ok += 1
                if t.spec.returns:
                    jsonschema.validate(result, t.spec.returns)
        assert ok, t.name


def test_state_is_seeded_deterministically_and_records_match_their_schemas():
    domain, _ = inferred(str(EXAMPLES["conference_program"]))
    assert domain.seed_state(4) == domain.seed_state(4) and domain.seed_state(4) != domain.seed_state(5)
    talks = domain.seeded(4)
    get_talk = domain.tool("get_talk")
    for rec in talks.rows("talks"):
        jsonschema.validate(rec, get_talk.spec.returns)
        assert talks.get("events", rec["event_id"]) is not None  # references point at seeded keys
        assert talks.get("speakers", str(rec["speaker_id"])) is not None


def test_list_filters_paging_and_counts_follow_the_query_parameters():
    domain, _ = inferred(str(EXAMPLES["conference_program"]))
    store = domain.seeded(2)
    event = next(r for r in store.rows("events") if sum(t["event_id"] == r["event_id"] for t in store.rows("talks")))
    mine = [t for t in store.rows("talks") if t["event_id"] == event["event_id"]]
    out = domain.tool("list_event_talks").invoke(store, {"event_id": event["event_id"]})
    assert out["total"] == len(mine) and [t["talk_id"] for t in out["items"]] == sorted(t["talk_id"] for t in mine)
    track = mine[0]["track"]
    out = domain.tool("list_event_talks").invoke(store, {"event_id": event["event_id"], "track": track})
    assert out["total"] == sum(t["track"] == track for t in mine) and all(t["track"] == track for t in out["items"])
    page = domain.tool("list_speakers").invoke(store, {"limit": 5, "offset": 5})
    assert page["total"] == 30 and [s["speaker_id"] for s in page["items"]] == [6, 7, 8, 9, 10]
    assert is_error(domain.tool("list_event_talks").invoke(store, {"event_id": "EV999"}))


def test_writes_check_references_and_delete_is_refused_while_referenced():
    domain, _ = inferred(str(EXAMPLES["bike_share"]))
    store = domain.seeded(1).fork()
    bad = domain.tool("startRide").invoke(store, {"riderId": "00000000-0000-4000-8000-000000000999", "bikeId": 1})
    assert bad["error"]["type"] == "not_found"
    used = next(r["bikeId"] for r in store.rows("rides"))
    refused = domain.tool("retireBike").invoke(store, {"bikeId": used})
    assert refused["error"]["type"] == "invalid_state"
    created = domain.tool("createStation").invoke(store, {"name": "Pier Nine", "district": "Harbor", "capacity": 12})
    assert created["id"] == "ST-0031" and store.get("stations", "ST-0031")["name"] == "Pier Nine"
    assert set(store.diff()) == {"stations"}


def test_a_build_over_both_examples_calls_only_document_operations_with_valid_arguments(tmp_path):
    out = make_build(tmp_path / "b", {"name": "oa", "seed": 5, "records": 240, "shard_size": 120,
                                      "worlds": [{"openapi": str(p)} for p in EXAMPLES.values()]})
    schemas = {}
    for name, path in EXAMPLES.items():
        for op, schema in own_schemas(yaml.safe_load(path.read_text())).items():
            schemas[(name, op)] = schema
    df = pl.read_parquet(out / "shards" / "*.parquet")
    calls = 0
    for row in df.iter_rows(named=True):
        for event in row["content"]:
            if event["class_"] == "api_action":
                schema = schemas[(row["domain"], event["function"])]
                jsonschema.validate(json.loads(event["kwargs"]), schema)
                calls += 1
    assert calls > 300
    used = {(d, t) for d, ts in zip(df["domain"], df["tools_used"]) for t in ts}
    assert len(used) >= 20
    assert revalidate(out, include_rejected=True).failed == 0


HOSTILE = {
    "swagger.yaml": ("swagger: '2.0'\ninfo: {title: x, version: '1'}\npaths: {}\n", "only OpenAPI 3.x is supported"),
    "remote.yaml": ("openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n"
                    "        '200': {description: ok, content: {application/json: {schema: {$ref: 'http://evil/x'}}}}\n",
                    "never fetched"),
    "nothing.yaml": ("openapi: 3.0.0\ninfo: {title: x, version: '1'}\npaths:\n  /health:\n    get:\n      responses:\n"
                     "        '200': {description: ok}\n", "no operation could be made executable"),
    "list.yaml": ("- 1\n- 2\n", "an OpenAPI document is a JSON/YAML object"),
}


def _laughs() -> str:
    schemas = {"L0": {"type": "object", "properties": {"a": {"type": "string"}}}}
    for i in range(1, 21):
        schemas[f"L{i}"] = {"type": "object", "properties": {"x": {"$ref": f"#/components/schemas/L{i - 1}"},
                                                              "y": {"$ref": f"#/components/schemas/L{i - 1}"}}}
    doc = {"openapi": "3.0.0", "info": {"title": "bomb", "version": "1"}, "components": {"schemas": schemas},
           "paths": {"/things/{id}": {"get": {"parameters": [{"name": "id", "in": "path", "required": True,
                                                               "schema": {"type": "string"}}],
                                               "responses": {"200": {"description": "ok", "content": {
                                                   "application/json": {"schema": {"$ref": "#/components/schemas/L20"}}}}}}}}}
    return json.dumps(doc)


@pytest.mark.parametrize("name", [*sorted(HOSTILE), "laughs.json"])
def test_a_hostile_or_unsupported_document_fails_on_one_line_in_bounded_time(tmp_path, name):
    text, expected = HOSTILE.get(name, (_laughs(), "nodes"))
    doc = tmp_path / name
    doc.write_text(text)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\nrecords: 5\nworlds: [{{openapi: {name}}}]\n")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "agentfab", "build", str(recipe), "--out", str(tmp_path / "out"),
                           "--quiet", "--workers", "1"], capture_output=True, text=True, timeout=120)
    assert time.perf_counter() - started < 60
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_document_is_named(tmp_path):
    with pytest.raises(ValueError, match="OpenAPI document 'nope.yaml' not found next to the recipe"):
        from agentfab.flows.recipe import parse_recipe
        from agentfab.flows.worlds import expand_worlds

        expand_worlds(parse_recipe({"name": "r", "records": 1, "worlds": [{"openapi": "nope.yaml"}]}).worlds, tmp_path)


def test_the_cli_lists_tools_and_left_out_operations():
    result = CliRunner().invoke(main, ["domains", "openapi", str(EXAMPLES["bike_share"])])
    assert result.exit_code == 0, result.output
    assert "domain bike_share: 13 executable tools" in result.output
    assert "POST /rides/{rideId}/end (endRide): no object schema" in result.output
    with pytest.raises(OpenAPIWorldError):
        inferred(str(ROOT / "README.md"))
