"""Imported tools with a spec but no implementation, in a build: the tool simulator (the loopback server) answers
every call the composer can draw before any task is composed, each answer validated against the tool's `returns`
schema and memoized per (tool, arguments, state); tasks over those tools go through compose, roll out and verify
like any other, rows say in provenance that their tool results were simulated, and the manifest counts them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import polars as pl
import pytest
from small_builds import make_build

from agentfab.llm.loopback import LoopbackServer, ScriptedModel, role_of

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Oslo", "Lima", "Pune"]}},
                       "required": ["city"]},
        "returns": {"type": "object", "properties": {"celsius": {"type": "number"}, "sky": {"type": "string"}},
                    "required": ["celsius", "sky"]}, "mutates": False}},
    {"type": "function", "function": {
        "name": "convert_currency", "description": "Convert an amount of US dollars into another currency",
        "parameters": {"type": "object", "properties": {
            "amount": {"type": "number", "examples": [10, 25]},
            "currency": {"type": "string", "enum": ["EUR", "JPY", "GBP"]}}, "required": ["amount", "currency"]},
        "returns": {"type": "object", "properties": {"converted": {"type": "number"}, "rate": {"type": "number"}},
                    "required": ["converted", "rate"]}, "mutates": False}},
]
SAMPLED = 3 + 2 * 2  # calls the composer can draw: 3 cities; 2 amounts x 2 currencies (8 combinations at most)


def recipe(tools: Path, url: str) -> dict:
    return {"name": "simulated", "seed": 3, "records": 24, "shard_size": 24, "negatives": 0.0,
            "worlds": [{"tools": str(tools)}], "tasks": {"mix": {"single": 2, "parallel": 1}},
            "models": {"simulator": {"base_url": url, "model": "sim-1"}}}


def rows(out: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(out / f / "*.parquet") for f in ("shards", "rejected")], how="vertical")


@pytest.fixture
def tools(tmp_path) -> Path:
    path = tmp_path / "weather_tools.json"
    path.write_text(json.dumps(TOOLS))
    return path


def test_a_build_on_imported_tools_runs_on_simulated_results_that_are_validated_and_memoized(tmp_path, tools):
    with LoopbackServer(ScriptedModel()) as server:
        out = make_build(tmp_path / "out", recipe(tools, server.base_url))
        asked = [b for b in server.log if role_of(b) == "simulator"]
        assert len(asked) == len(server.log) == SAMPLED  # every call the composer can draw, each asked once

        data = rows(out)
        accepted = data.filter(pl.col("verification").struct.field("passed"))
        assert accepted.height > 0 and set(data["domain"]) == {"weather_tools"}
        assert set(accepted["kind"]) == {"single", "parallel"}
        returns = {t["function"]["name"]: t["function"]["returns"] for t in TOOLS}
        seen: dict[str, str] = {}
        for row in data.iter_rows(named=True):
            models = json.loads(row["provenance"]["models"])
            assert models["simulator"]["model"] == "sim-1" and models["simulator"]["prompt"].startswith("simulator@")
            calls = {e["tool_call_id"]: e for e in row["content"] if e["class_"] == "api_action"}
            for ev in row["content"]:
                if ev["source"] == "environment":
                    call = calls[ev["tool_call_id"]]
                    result = json.loads(ev["content"])
                    if "error" not in result:  # the oracle's deliberate mistakes get the tool's error
                        jsonschema.validate(result, returns[call["function"]])
                        # the same call gives the same result in every row
                        assert seen.setdefault(call["function"] + call["kwargs"], ev["content"]) == ev["content"]
        assert len(seen) > 1
        manifest = json.loads((out / "manifest.json").read_text())
        counts = manifest["llm"]["counts"]
        assert counts["simulated_calls"] == SAMPLED and counts["simulated_rows"] == data.height
        assert manifest["llm"]["usage"]["simulator"]["answers"] == SAMPLED

        # `agentfab validate` in a new process (no memo, no server): the simulated results are the rows' own, and
        # every replay agrees with them
        checked = subprocess.run([sys.executable, "-m", "agentfab", "validate", str(out), "--rejected"],
                                 capture_output=True, text=True, timeout=300)
        assert checked.returncode == 0 and "0 failed" in checked.stdout + checked.stderr, checked.stdout + checked.stderr

        shutil.rmtree(out)  # the same build again in a new folder, this process: the domain's memo answers
        again = make_build(tmp_path / "again", recipe(tools, server.base_url))
        assert len(server.log) == SAMPLED and rows(again)["id"].to_list() == data["id"].to_list()


def test_imported_tools_without_a_simulator_are_refused_naming_the_fix(tools):
    from agentfab.flows.recipe import RecipeError, parse_recipe

    bad = recipe(tools, "http://127.0.0.1:9/v1")
    del bad["models"]
    with pytest.raises(RecipeError, match="set models.simulator"):
        parse_recipe(bad)


class OwnArguments(ScriptedModel):
    """An LLM agent that converts 99 USD (an amount no task drew) whatever it is asked, then answers."""

    def agent(self, body: dict) -> dict:
        if any(m["role"] == "assistant" for m in body["messages"]):
            return {"role": "assistant", "content": "Done."}
        call = {"id": "c1", "type": "function",
                "function": {"name": "convert_currency", "arguments": '{"amount": 99, "currency": "EUR"}'}}
        return {"role": "assistant", "content": "Converting.", "tool_calls": [call]}


def test_an_llm_agents_own_arguments_are_simulated_live_and_replay_agrees(tmp_path, tools):
    with LoopbackServer(OwnArguments()) as server:
        r = recipe(tools, server.base_url)
        r["models"]["agent"] = r["models"]["simulator"]
        r["rollouts"] = {"agent": "llm", "oracle_pairs": False}
        r["records"] = r["shard_size"] = 6
        out = make_build(tmp_path / "out", r)
        live = [b for b in server.log
                if role_of(b) == "simulator" and '"amount": 99' in b["messages"][-1]["content"]]
        assert len(live) == 1  # six rollouts made the same call: asked once
    data = rows(out)
    results = {e["content"] for c in data["content"] for e in c if e["source"] == "environment"}
    assert len(results) == 1 and "error" not in json.loads(next(iter(results)))
    codes = {c for r in data["verification"].struct.field("reasons").to_list() for c in r}
    assert "exec.observation_mismatch" not in codes  # the replay found the same simulated result
    assert json.loads((out / "manifest.json").read_text())["llm"]["counts"]["simulated_calls"] == SAMPLED + 1


def test_the_memo_learnt_from_rows_keeps_the_first_result_so_a_disagreeing_row_fails_its_replay(tools):
    from agentfab.flows.worlds import simulated_tools
    from agentfab.worlds.simulated import learn_calls

    domain = simulated_tools(str(tools), "json")
    call = {"class_": "api_action", "function": "get_weather", "kwargs": {"city": "Oslo"}, "tool_call_id": "c1"}

    def seen(result: dict) -> list[dict]:
        return [call, {"class_": "text_observation", "source": "environment", "tool_call_id": "c1",
                       "content": json.dumps(result)}]

    store = domain.seeded(0)
    assert domain.tool("get_weather").invoke(store, {"city": "Oslo"})["error"]["type"] == "unavailable"
    assert learn_calls(domain, seen({"celsius": 3.5, "sky": "snow"})) == 1
    assert learn_calls(domain, seen({"celsius": 30, "sky": "sun"})) == 0  # a second row disagrees: not learnt
    assert domain.tool("get_weather").invoke(store, {"city": "Oslo"}) == {"celsius": 3.5, "sky": "snow"}
    unavailable = seen({"error": {"type": "unavailable", "message": "no simulated result"}})
    unavailable[0] = {**call, "kwargs": {"city": "Lima"}}
    assert learn_calls(domain, unavailable) == 0  # a call the build never simulated stays unsimulated


def test_the_shipped_simulated_tools_recipe_parses_and_its_tools_load():
    from agentfab.flows.recipe import load_recipe
    from agentfab.flows.worlds import expand_worlds
    from agentfab.worlds.simulated import sample_calls, simulated_calls

    path = Path(__file__).resolve().parents[1] / "data" / "recipes" / "llm-simulated.yaml"
    recipe, _ = load_recipe(path)
    assert recipe.models.simulator is not None and recipe.tasks.intents == 0.2
    domains = dict(expand_worlds(recipe.worlds, path.parent))
    simulated = [d for d in domains.values() if simulated_calls(d) is not None]
    assert [d.name for d in simulated] == ["city_tools"]
    assert len(sample_calls(simulated[0])) == 4 + 2 * 2 + 2 * 2
