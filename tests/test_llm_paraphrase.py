"""The generator's paraphrases keep every argument value and every required fact: against the loopback server's
"dropped values" behaviour (and a rewrite that keeps the values but fails another check), a paraphrase that loses
or changes one is refused with a code and the template text is kept, so paraphrasing never rejects a row that
the template text would have let through."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from small_builds import make_build

from agentfab.llm.loopback import LoopbackServer, ScriptedModel, role_of
from agentfab.llm.roles import missing_values

BASE = {"seed": 5, "shard_size": 30, "worlds": ["bank", "library"], "negatives": 0.0,
        "tasks": {"mix": {"single": 1, "parallel": 1, "chain": 1, "multi_turn": 1}}}


def recipe(name: str, url: str | None) -> dict:
    if url is None:
        return {**BASE, "name": name, "records": 30}
    return {**BASE, "name": name, "records": 30, "models": {"generator": {"base_url": url, "model": "para-1"}}}


def rows(out: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(out / f / "*.parquet") for f in ("shards", "rejected")], how="vertical")


def refused(out: Path) -> list[dict]:
    return [json.loads(line) for p in (out / "rejected").glob("llm-answers-*.jsonl")
            for line in p.read_text().splitlines()]


def verdicts(data: pl.DataFrame) -> dict[str, bool]:
    return dict(zip(data["task_id"], data["verification"].struct.field("passed")))


def replies(data: pl.DataFrame) -> list[str]:
    return [e["content"] for c in data["content"] for e in c if e["class_"] == "message_action"]


def test_a_whole_token_check_finds_a_changed_value_a_substring_check_would_miss():
    assert missing_values("Send 1120.50 from ACC-12 to acc-2", ["120.50", "ACC-1", "ACC-2"]) == ["120.50", "ACC-1"]
    assert missing_values("Send 120.50 from 'acc-1'", ["120.50", "ACC-1"]) == []
    # a value changed in one place is not kept by its other mention
    assert missing_values("CUS-x opened ACC-1 for CUS-7", ["CUS-7"], "CUS-7 opened ACC-1 for CUS-7") == ["CUS-7"]


def test_paraphrases_that_drop_values_or_facts_are_refused_and_the_rows_verdicts_do_not_change(tmp_path):
    offline = rows(make_build(tmp_path / "offline", recipe("para", None)))
    with LoopbackServer(ScriptedModel(drop_every=3)) as server:
        out = make_build(tmp_path / "llm", recipe("para", server.base_url))
        assert server.log
    data = rows(out)
    assert verdicts(data) == verdicts(offline)  # a rewrite never costs a row its acceptance
    answers = refused(out)
    dropped = [r for r in answers if r["code"] == "phrase.dropped_value"]
    assert dropped and all("lost" in r["detail"] for r in dropped)
    assert not any("something" in r for r in replies(data) + data["query"].to_list())
    kept = {r["kept"] for r in dropped}
    assert kept & set(replies(data) + data["query"].to_list())  # the template text stayed where a rewrite was refused
    rewritten = [t for t in replies(data) if t.startswith("Hello! ")]
    assert rewritten  # and the good rewrites were used
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["llm"]["counts"]["refused.phrase.dropped_value"] == len(dropped)


class LeakyGenerator(ScriptedModel):
    """Keeps every value but writes a template placeholder into each request and reply it rewrites."""

    def __call__(self, body: dict) -> dict:
        answer = super().__call__(body)
        if role_of(body) == "generator":
            text = json.loads(answer["content"])["text"]
            answer["content"] = json.dumps({"text": text + " See {account_id}."})
        return answer


def test_a_reply_rewrite_that_keeps_the_values_but_fails_a_check_is_refused_as_dropped_fact(tmp_path):
    offline = rows(make_build(tmp_path / "offline", recipe("leak", None)))
    with LoopbackServer(LeakyGenerator()) as server:
        out = make_build(tmp_path / "llm", recipe("leak", server.base_url))
    data = rows(out)
    assert verdicts(data) == verdicts(offline)
    facts = [r for r in refused(out) if r["code"] == "phrase.dropped_fact"]
    assert facts and all("rule.template_leak" in r["detail"] for r in facts)
    assert not any("{account_id}" in t for t in replies(data) + data["query"].to_list())
