"""Task intents proposed by the generator (the loopback server) for a domain: a structured answer, each intent
checked against the domain's tools (an unknown tool, arguments the schema refuses, a request that leaves a value
unsaid: rejected with a code and kept), and the accepted ones become tasks that go through the same compose ->
roll out -> verify chain as composed ones."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from small_builds import make_build

from agentfab.llm.intents import Intent, check_intent
from agentfab.llm.loopback import LoopbackServer, ScriptedModel, role_of
from agentfab.worlds.registry import builtin_domain


def intent(request: str, tool: str, arguments: dict) -> Intent:
    return Intent.model_validate({"request": request, "calls": [{"tool": tool, "arguments": arguments}]})


def test_each_check_rejects_its_kind_of_intent_and_accepts_a_good_one():
    bank = builtin_domain("bank")
    tool = next(t for t in bank.tools if t.spec.parameters.get("required") == ["account_id"])
    good = intent("What about account ACC-1001?", tool.name, {"account_id": "ACC-1001"})
    assert check_intent(bank, good).code is None
    assert check_intent(bank, intent("Teleport me.", "teleport_user", {})).code == "intent.unknown_tool"
    assert check_intent(bank, intent("Check it.", tool.name, {})).code == "intent.bad_arguments"
    assert check_intent(bank, intent("Check it.", tool.name, {"account_id": 7})).code == "intent.bad_arguments"
    unsaid = check_intent(bank, intent("Check my account.", tool.name, {"account_id": "ACC-1001"}))
    assert unsaid.code == "intent.unstated_value" and "ACC-1001" in unsaid.detail


def test_proposed_intents_become_verified_tasks_and_bad_ones_are_kept_with_their_codes(tmp_path):
    with LoopbackServer(ScriptedModel(bad_intents=True)) as server:
        recipe = {"name": "intents", "seed": 2, "records": 24, "shard_size": 24, "negatives": 0.0,
                  "worlds": ["bank", "library"], "tasks": {"mix": {"single": 1, "chain": 1}, "intents": 0.5},
                  "models": {"generator": {"base_url": server.base_url, "model": "gen-1"}}}
        out = make_build(tmp_path / "out", recipe)
        proposals = [b for b in server.log if role_of(b) == "intents"]
        assert len(proposals) == 2 and all(b["response_format"]["type"] == "json_schema" for b in proposals)
    data = pl.concat([pl.read_parquet(out / f / "*.parquet") for f in ("shards", "rejected")], how="vertical")
    models = [json.loads(m) for m in data["provenance"].struct.field("models")]
    from_intents = data.filter(pl.Series([m["generator"].get("intent", "").startswith("intents@v1:")
                                          for m in models]))
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["llm"]["counts"]
    # 12 tasks wanted; an intent whose call fails on the task's world variant is refused (the task is composed)
    assert from_intents.height == counts["intent_tasks"] >= 6
    assert counts["intent_tasks"] + counts.get("refused.intent.failed_call", 0) == 12, counts
    # the generator's request (paraphrased too) replaced the template's, and the rows passed the same checks
    assert all(q.removeprefix("Hello! ").startswith("Could you help me") for q in from_intents["query"])
    passed = from_intents.filter(pl.col("verification").struct.field("passed"))
    assert passed.height > 0 and set(passed["kind"]) <= {"single", "parallel"}
    # the few intents the scripted model knows come back more than once: their repeats are duplicates, nothing else
    failed = from_intents.filter(~pl.col("verification").struct.field("passed"))
    assert all(c.startswith("dedup.") for r in failed["verification"].struct.field("reasons") for c in r)
    refused = [json.loads(line) for p in (out / "rejected").glob("llm-answers-*.jsonl")
               for line in p.read_text().splitlines()]
    codes = {r["code"] for r in refused}
    assert {"intent.unknown_tool", "intent.bad_arguments", "intent.unstated_value"} <= codes
    kept = [Intent.model_validate_json(r["kept"]) for r in refused if r["code"] == "intent.unknown_tool"]
    assert kept and kept[0].calls[0].tool == "teleport_user"
    assert counts["refused.intent.unknown_tool"] == 2  # one per world
    assert Path(out / "manifest.json").exists()


class NamedFields(ScriptedModel):
    """Intents that ask for one named field of an account ("the status of account ACC-..."), or nothing named."""

    def intents(self, body: dict) -> dict:
        text = body["messages"][-1]["content"]
        tools = {t["name"]: t for t in json.loads(text.split("TOOLS <<<", 1)[1].split(">>>", 1)[0])}
        account = tools["get_account"]["examples"][0]["account_id"]
        intents = [{"request": f"What is the status of account {account}?",
                    "calls": [{"tool": "get_account", "arguments": {"account_id": account}}]},
                   {"request": f"Could you help me with account {account}?",
                    "calls": [{"tool": "get_balance", "arguments": {"account_id": account}}]}]
        return {"role": "assistant", "content": json.dumps({"intents": intents})}


def test_an_intents_required_facts_are_what_its_request_asks_to_see(tmp_path):
    with LoopbackServer(NamedFields()) as server:
        recipe = {"name": "facts", "seed": 5, "records": 16, "shard_size": 16, "negatives": 0.0, "worlds": ["bank"],
                  "tasks": {"mix": {"single": 1}, "intents": 0.5},
                  "models": {"generator": {"base_url": server.base_url, "model": "gen-1"}}}
        out = make_build(tmp_path / "out", recipe)
    data = pl.concat([pl.read_parquet(out / f / "*.parquet") for f in ("shards", "rejected")], how="vertical")
    asks = {}
    for row in data.iter_rows(named=True):
        if "intent" in json.loads(row["provenance"]["models"]).get("generator", {}):
            (step,) = row["ground_truth"]["plan"]
            asks.setdefault(step["tool"], set()).add(tuple(step["asks"]))
            result = json.loads(step["result"])
            reply = row["content"][-1]["content"]
            assert all(str(result[f]) in reply.replace(",", "") for f in step["asks"]), (step, reply)  # "3,351.06"
            assert row["verification"]["passed"] or all(c.startswith("dedup.")
                                                        for c in row["verification"]["reasons"])
    # named: only that field (whatever the template it replaced asked); none named: what the tool answers
    assert asks == {"get_account": {("status",)}, "get_balance": {("account_id", "balance", "currency")}}
