"""Simulated tools with state and chains, against the loopback server: a simulated write changes the state the next
simulated read sees (the simulator is shown the writes, the memo is keyed by the state), the same call in the same
state is asked once, and a chain's later simulated call takes its argument from an earlier simulated result,
verified like any chain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from small_builds import make_build

from agentfab.llm.loopback import LoopbackServer, ScriptedModel, role_of


def tool(name: str, description: str, params: dict, required: list[str], returns: dict, mutates: bool) -> dict:
    return {"type": "function", "function": {
        "name": name, "description": description, "mutates": mutates,
        "parameters": {"type": "object", "properties": params, "required": required},
        "returns": {"type": "object", "properties": returns, "required": sorted(returns)}}}


TOOLS = [
    tool("find_restaurant", "Find the best restaurant of a city", {"city": {"type": "string",
         "enum": ["Oslo", "Lima", "Pune"]}}, ["city"], {"restaurant_id": {"type": "string"},
         "name": {"type": "string"}}, False),
    tool("get_menu", "The dish of the day of a restaurant", {"restaurant_id": {"type": "string"}}, ["restaurant_id"],
         {"dish": {"type": "string"}, "price": {"type": "number"}}, False),
    tool("book_table", "Book a table at a restaurant", {"restaurant_id": {"type": "string"},
         "people": {"type": "integer", "minimum": 1, "maximum": 4}}, ["restaurant_id", "people"],
         {"booking_id": {"type": "string"}, "confirmed": {"type": "boolean"}}, True),
    tool("list_bookings", "The latest booking", {}, [], {"restaurant_id": {"type": "string"},
         "people": {"type": "integer"}}, False),
]


def rows(out: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(out / f / "*.parquet") for f in ("shards", "rejected")], how="vertical")


def asked(server: LoopbackServer) -> list[tuple[str, dict, dict]]:
    """(tool, arguments, state) of every simulator request, in the order the server got them."""
    out = []
    for body in server.log:
        if role_of(body) == "simulator":
            text = body["messages"][-1]["content"]
            name = body["messages"][0]["content"].split("\nTool: ", 1)[1].split(":", 1)[0]
            args = json.loads(text.split("ARGUMENTS <<<", 1)[1].split(">>>", 1)[0])
            state = json.loads(text.split("STATE <<<", 1)[1].split(">>>", 1)[0])
            out.append((name, args, state))
    return out


def validate(out: Path) -> str:
    """`agentfab validate` in a new process: no memo, no server; simulated results are learnt from the rows."""
    done = subprocess.run([sys.executable, "-m", "agentfab", "validate", str(out), "--rejected"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def tools(tmp_path) -> Path:
    path = tmp_path / "dining.json"
    path.write_text(json.dumps(TOOLS))
    return path


def recipe(tools: Path, url: str, **over) -> dict:
    return {"name": "dining", "seed": 3, "records": 24, "shard_size": 24, "negatives": 0.3,
            "worlds": [{"tools": str(tools)}], "tasks": {"mix": {"chain": 2, "single": 1}},
            "models": {"simulator": {"base_url": url, "model": "sim-1"}}, **over}


def test_a_chain_takes_a_later_simulated_calls_argument_from_an_earlier_simulated_result(tmp_path, tools):
    with LoopbackServer(ScriptedModel()) as server:
        out = make_build(tmp_path / "out", recipe(tools, server.base_url))
    calls = asked(server)
    # the producer is simulated first; its consumers are asked only with the ids it returned
    found = [i for i, (name, _, _) in enumerate(calls) if name == "find_restaurant"]
    fed = [i for i, (name, _, _) in enumerate(calls) if name in ("get_menu", "book_table")]
    assert found and fed and max(found) < min(fed)
    data = rows(out)
    results = [json.loads(e["content"]) for c in data["content"] for e in c if e["source"] == "environment"]
    ids = {r["restaurant_id"] for r in results if set(r) == {"name", "restaurant_id"}}  # find_restaurant's
    assert {calls[i][1]["restaurant_id"] for i in fed} <= ids and len(ids) == 3

    chains = data.filter(pl.col("verification").struct.field("passed") & (pl.col("kind") == "chain"))
    assert chains.height >= 5
    for row in chains.iter_rows(named=True):
        plan = row["ground_truth"]["plan"]
        first, second = plan[0], plan[1]
        assert second["bindings"] == [f"restaurant_id={first['id']}.restaurant_id"]
        value = json.loads(second["arguments"])["restaurant_id"]
        assert value == json.loads(first["result"])["restaurant_id"]
        events = row["content"]
        later = next(i for i, e in enumerate(events) if e["class_"] == "api_action" and e["function"] == second["tool"])
        earlier = [e["content"] for e in events[:later] if e["source"] == "environment"]
        assert json.loads(events[later]["kwargs"])["restaurant_id"] == value and any(value in o for o in earlier)
        assert "restaurant_id" not in row["query"] or "the restaurant" in row["query"]
    # negative controls of the same chains (a wrong argument, a fabricated observation, ...) are all rejected
    negatives = data.filter(pl.col("provenance").struct.field("negative").is_not_null())
    assert negatives.height > 0 and not any(negatives["verification"].struct.field("passed"))
    assert "0 failed" in validate(out)  # book_table's writes replay as state changes


class BookThenList(ScriptedModel):
    """An LLM agent that books a table at R-9 for 3, reads the latest booking, then answers."""

    def agent(self, body: dict) -> dict:
        done = sum(m["role"] == "assistant" for m in body["messages"])
        if done >= 2:
            return {"role": "assistant", "content": "Booked: restaurant R-9 for 3 people."}
        name, args = [("book_table", '{"restaurant_id": "R-9", "people": 3}'), ("list_bookings", "{}")][done]
        call = {"id": f"c{done}", "type": "function", "function": {"name": name, "arguments": args}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}


def test_a_simulated_write_changes_what_the_next_read_sees_and_each_call_in_a_state_is_asked_once(tmp_path, tools):
    with LoopbackServer(BookThenList()) as server:
        r = recipe(tools, server.base_url, records=6, shard_size=6, negatives=0.0,
                   rollouts={"agent": "llm", "oracle_pairs": False})
        r["models"]["agent"] = r["models"]["simulator"]
        out = make_build(tmp_path / "out", r)
    calls = asked(server)
    before = [c for c in calls if c[0] == "list_bookings" and not c[2]["writes"]]
    after = [c for c in calls if c[0] == "list_bookings" and c[2]["writes"]]
    booked = [c for c in calls if c[0] == "book_table" and c[1] == {"restaurant_id": "R-9", "people": 3}]
    assert len(before) == 1 and len(booked) == 1 and len(after) == 1  # six rollouts: one request per call and state
    (write,) = after[0][2]["writes"]  # the simulator is shown the write, with its arguments and result
    assert write["tool"] == "book_table" and write["arguments"] == {"restaurant_id": "R-9", "people": 3}
    assert set(write["result"]) == {"booking_id", "confirmed"}

    data = rows(out)
    offered = data.filter(pl.col("tools").list.eval(pl.element().struct.field("name")).list.contains("list_bookings")
                          & pl.col("tools").list.eval(pl.element().struct.field("name")).list.contains("book_table"))
    assert offered.height > 0
    for row in offered.iter_rows(named=True):
        seen = [json.loads(e["content"]) for e in row["content"] if e["source"] == "environment"]
        assert seen[1] == {"restaurant_id": "R-9", "people": 3}  # the read after the write sees it
    codes = {c for r in data["verification"].struct.field("reasons").to_list() for c in r}
    assert "exec.observation_mismatch" not in codes  # every replay walks the same states
    assert "0 failed" in validate(out)


def test_the_memo_learnt_from_rows_is_keyed_by_the_state_each_call_was_made_in(tools):
    from agentfab.flows.worlds import simulated_tools
    from agentfab.worlds.simulated import learn_calls, state_of

    domain = simulated_tools(str(tools), "json")

    def trajectory(*calls: tuple[str, dict, dict]) -> list[dict]:
        out = []
        for i, (name, kwargs, result) in enumerate(calls):
            out += [{"class_": "api_action", "function": name, "kwargs": kwargs, "tool_call_id": f"c{i}"},
                    {"class_": "text_observation", "source": "environment", "tool_call_id": f"c{i}",
                     "content": json.dumps(result)}]
        return out

    empty = {"restaurant_id": "none", "people": 0}
    booked = {"restaurant_id": "R-1", "people": 2}
    book = ("book_table", booked, {"booking_id": "B-1", "confirmed": True})
    assert learn_calls(domain, trajectory(("list_bookings", {}, empty))) == 1
    assert learn_calls(domain, trajectory(book, ("list_bookings", {}, booked))) == 2  # another state: learnt too
    assert learn_calls(domain, trajectory(book, ("list_bookings", {}, empty))) == 0  # same state: first one wins
    store = domain.seeded(0).fork()  # a task's world
    read = domain.tool("list_bookings")
    assert read.invoke(store, {}) == empty and state_of(store) == ""
    assert domain.tool("book_table").invoke(store, booked)["booking_id"] == "B-1"
    assert state_of(store) != "" and read.invoke(store, {}) == booked
    assert store.diff() == {"simulated_writes": {"0001": [None, {"tool": "book_table", "arguments": booked,
                                                                  "result": {"booking_id": "B-1", "confirmed": True}}]}}
