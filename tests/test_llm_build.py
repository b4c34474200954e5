"""LLM builds against a real scripted OpenAI-compatible server on 127.0.0.1, run as the CLI runs them: every role
produces accepted and rejected rows, usage and cost land in the manifest, no secret reaches the output folder or
Prefect's home, a SIGKILLed build resumes without asking anything twice, and a dead endpoint ends in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from small_builds import make_build

from agentfab.llm.cache import request_key
from agentfab.llm.loopback import LoopbackServer, ScriptedModel, agent_script, role_of

SECRET = "sk-llm-build-secret-9f8e7d"
BASE = {"seed": 11, "shard_size": 20, "worlds": ["bank", "library"], "negatives": 0.1,
        "tasks": {"mix": {"single": 1, "parallel": 1, "chain": 1, "multi_turn": 1, "clarify": 1, "irrelevant": 1}}}


def llm_recipe(name: str, records: int, url: str, concurrency: int = 8) -> dict:
    role = {"base_url": url, "model": "scripted-1", "api_key_env": "AGENTFAB_LLM_KEY", "max_concurrency": concurrency,
            "max_retries": 2, "timeout": 5, "prices": {"input": 0.5, "output": 1.5}}
    return {**BASE, "name": name, "records": records, "rollouts": {"agent": "llm", "max_steps": 8},
            "filters": {"judge": {"engine": "llm", "min_score": 3}},
            "models": {"generator": role, "agent": role, "user": role, "judge": role}}


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> dict:
    """Good agent turns for every task of the recipes below, from the oracle's offline build of the same tasks."""
    out = make_build(tmp_path_factory.mktemp("oracle") / "b", {**BASE, "name": "oracle", "records": 120})
    rows = [r for folder in ("shards", "rejected") for r in pl.read_parquet(out / folder / "*.parquet").to_dicts()
            if r["provenance"]["negative"] is None]
    return agent_script(rows)


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("prefect-home")


def cli(recipe: Path, out: Path, home: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PREFECT_HOME": str(home), "AGENTFAB_LLM_KEY": SECRET}
    return subprocess.Popen([sys.executable, "-m", "agentfab", "build", str(recipe), "--out", str(out), "--workers",
                             "1", "--quiet", *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe))
    return path


def rows(out: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(out / f / "*.parquet") for f in ("shards", "rejected")], how="vertical")


def test_an_llm_build_runs_every_role_keeps_no_secret_and_a_rerun_asks_nothing(tmp_path, script, prefect_home):
    broken = sorted(script)[::4]  # the scripted model fails these tasks: real rejections, with oracle pairs
    model = ScriptedModel({k: v for k, v in script.items() if k not in broken}, drop_every=5)
    with LoopbackServer(model) as server:
        recipe = write(tmp_path / "llm.yaml", llm_recipe("llmall", 40, server.base_url))
        out = tmp_path / "out"
        proc = cli(recipe, out, prefect_home)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        sent = len(server.log)

        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["engine"] == "llm"
        usage = manifest["llm"]["usage"]
        assert set(usage) == {"agent", "generator", "judge", "user"}
        assert all(u["answers"] > 0 and u["prompt_tokens"] > 0 and u["cost_usd"] > 0 for u in usage.values())
        assert manifest["llm"]["requests"] == sent and manifest["llm"]["cost_per_accepted_usd"] > 0
        assert manifest["llm"]["counts"]["oracle_pairs"] > 0
        card = (out / "README.md").read_text()
        assert "## LLM usage" in card and "| judge |" in card
        from agentfab.inspect.report import write_report

        html = write_report(out, tmp_path / "report.html").read_text()
        assert '<section id="llm">' in html and "<td>generator</td>" in html

        data = rows(out)
        llm_rows = data.filter(pl.col("provenance").struct.field("engine") == "llm")
        assert llm_rows.height == data.height
        accepted = data.filter(pl.col("verification").struct.field("passed"))
        rejected = data.filter(~pl.col("verification").struct.field("passed")
                               & pl.col("provenance").struct.field("negative").is_null())
        assert accepted.height > 0 and rejected.height > 0
        models = [json.loads(m) for m in rejected["provenance"].struct.field("models")]
        assert all(m["agent"]["model"] == "scripted-1" and m["agent"]["prompt"].startswith("agent@v1:")
                   for m in models)
        # the LLM judge's rubric and the rule judge's score, both kept in every judged row
        judged = [json.loads(m)["judge"] for m in accepted.filter(~pl.col("id").str.ends_with("-oracle"))[
            "provenance"].struct.field("models")]
        assert judged and all(set(j["rubric"]) == {"helpfulness", "grounding", "efficiency", "tone"}
                              and j["score"] == 5 and j["rule_score"] is not None for j in judged)
        codes = {c for r in rejected["verification"].struct.field("reasons").to_list() for c in r}
        assert codes & {"truth.missing_call", "truth.wrong_answer", "truth.no_refusal", "truth.no_clarification"}
        # the oracle's accepted trajectory beside each rejected LLM one: dpo pairs from real model mistakes
        pairs = accepted.filter(pl.col("id").str.ends_with("-oracle"))
        assert pairs.height > 0 and set(pairs["task_id"]) <= set(rejected["task_id"])
        from agentfab.formats.export.dpo import export_pairs

        dpo = list(export_pairs(pairs.to_dicts() + rejected.to_dicts()))
        assert dpo and all(p["chosen"] != p["rejected"] for p in dpo)
        # requests went through the generator; a rewrite that lost a value was refused and the template kept
        refused = [json.loads(line) for p in (out / "rejected").glob("llm-answers-*.jsonl")
                   for line in p.read_text().splitlines()]
        dropped = [r for r in refused if r["code"] == "phrase.dropped_value"]
        assert dropped and manifest["llm"]["counts"]["refused.phrase.dropped_value"] == len(dropped)
        kept = {r["kept"] for r in dropped}
        queries = data.filter(pl.col("provenance").struct.field("negative").is_null())["query"].to_list()
        assert all(q.startswith("Hello! ") or q in kept for q in queries)
        assert kept & set(queries) and not any(q.startswith("Hello! something") for q in queries)
        # the simulated user gives a withheld value only after the agent asked for it
        for row in data.filter(pl.col("kind") == "clarify").iter_rows(named=True):
            events = row["content"]
            second_user = next((i for i, e in enumerate(events[1:], 1) if e["source"] == "user"), None)
            if second_user is not None:
                asked = [e for e in events[:second_user] if e["class_"] == "message_action"]
                assert asked and "?" in asked[-1]["content"], row["id"]

        from agentfab.flows.revalidate import revalidate

        report = revalidate(out, include_rejected=True)  # offline re-check: replay, truth, the LLM judge's stored score
        assert report.checked == data.height and report.failed == 0, report.examples[:3]

        for place in (out, prefect_home):
            leaked = [p for p in place.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
            assert not leaked, f"the API key leaked into {leaked}"

        for folder in ("shards", "rejected", "stats"):  # resume from nothing but the request cache
            for p in (out / folder).glob("shard-*"):
                p.unlink()
        (out / "manifest.json").unlink()
        again = cli(recipe, out, prefect_home)
        _, err = again.communicate(timeout=300)
        assert again.returncode == 0, err[-3000:]
        assert len(server.log) == sent, "a re-run sent requests the cache had answered"
        assert rows(out).equals(data)
        assert json.loads((out / "manifest.json").read_text())["llm"]["cache_hits"] == sent


def test_a_sigkilled_llm_build_resumes_and_never_asks_an_answered_request_again(tmp_path, script, prefect_home):
    with LoopbackServer(ScriptedModel(script), latency=0.03) as server:
        recipe = write(tmp_path / "kill.yaml", llm_recipe("llmkill", 100, server.base_url, concurrency=4))
        out = tmp_path / "out"
        proc = cli(recipe, out, prefect_home)
        journal = out / "cache" / "llm"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            lines = sum(p.read_bytes().count(b"\n") for p in journal.glob("*.jsonl")) if journal.exists() else 0
            if lines >= 60:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the build finished before it could be killed: " + proc.stderr.read()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        answered = {json.loads(line)["key"] for p in journal.glob("*.jsonl")
                    for line in p.read_bytes().splitlines() if line.endswith(b"}")}
        before = len(server.log)
        assert answered and not (out / "manifest.json").exists()

        resumed = cli(recipe, out, prefect_home)
        _, err = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, err[-3000:]
        again = {request_key({k: v for k, v in body.items()}) for body in server.log[before:]}
        assert not again & answered, f"{len(again & answered)} answered requests were sent again after the kill"
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["rows"]["accepted"] > 0 and manifest["llm"]["cache_hits"] >= len(answered) - 1
        ids = rows(out)["id"].to_list()
        assert len(ids) == len(set(ids))


def test_a_dead_endpoint_ends_the_build_with_one_line_and_exit_code_2(tmp_path, prefect_home):
    recipe = llm_recipe("llmdead", 10, "http://127.0.0.1:9/v1")
    recipe["models"]["agent"]["max_retries"] = 1
    proc = cli(write(tmp_path / "dead.yaml", recipe), tmp_path / "out", prefect_home)
    _, err = proc.communicate(timeout=300)
    # (Prefect's own events worker may log a heartbeat traceback when its server stops; none of ours may show)
    assert proc.returncode == 2 and "LLMError" not in err and "agentfab/llm" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "endpoint http://127.0.0.1:9/v1" in lines[0] and "never answered" in lines[0], err


def test_a_recipe_naming_an_llm_agent_without_its_model_fails_naming_the_field(tmp_path):
    from agentfab.flows.recipe import RecipeError, parse_recipe

    with pytest.raises(RecipeError, match="rollouts.agent is llm but models.agent is missing"):
        parse_recipe({**BASE, "name": "x", "records": 5, "rollouts": {"agent": "llm"}})
    with pytest.raises(RecipeError, match=r"models.agent.api_key_env: .*NAME of an environment variable"):
        parse_recipe({**BASE, "name": "x", "records": 5, "models": {"agent": {
            "base_url": "http://localhost:8000/v1", "model": "m", "api_key_env": "sk-abc-123"}}})
    with pytest.raises(RecipeError, match=r"models.judge.timeout: must be > 0"):
        parse_recipe({**BASE, "name": "x", "records": 5, "models": {"judge": {
            "base_url": "http://localhost:8000/v1", "model": "m", "timeout": 0}}})


def test_the_shipped_llm_recipes_parse_and_hold_no_key():
    from agentfab.flows.recipe import load_recipe

    root = Path(__file__).resolve().parents[1] / "data" / "recipes"
    for name in ("llm-local.yaml", "llm-openai.yaml"):
        recipe, _ = load_recipe(root / name)
        assert set(recipe.models.roles()) == {"agent", "generator", "user", "judge"}
        assert recipe.rollouts.agent == "llm" and recipe.filters.judge.engine == "llm"
        assert "sk-" not in (root / name).read_text()
    openai_recipe, _ = load_recipe(root / "llm-openai.yaml")
    assert openai_recipe.models.agent.api_key_env == "OPENAI_API_KEY"


FLAKY_LLM_WORLD = """
from byo_tools import DESCRIPTION, ENTITIES, NAME, Todo, TodoId, count_open, seed_state, set_status
from agentfab.worlds.authoring import tool
from agentfab.worlds.core import Store, ToolError


@tool(phrases=("show to-do {todo_id}", "what is to-do {todo_id} about"))
def get_todo(db: Store, todo_id: TodoId) -> Todo:
    \"\"\"Get one to-do item.\"\"\"
    t = db.get("todos", todo_id)
    if t is None:
        raise ToolError("not_found", f"no to-do {todo_id}")
    if todo_id == "TD-004":
        raise ZeroDivisionError(f"ratio of {todo_id} is undefined")
    return {"todo_id": t["id"], "project_id": t["project_id"], "title": t["title"], "status": t["status"]}
"""


def test_a_python_tool_that_raises_under_the_llm_agent_rejects_that_task_alone(tmp_path, prefect_home):
    """The agent's own call reaches the user's buggy tool: that task is rejected with exec.tool_raised (the
    exception kept in its details), every other task is built, and the build ends well."""
    (tmp_path / "flaky_llm.py").write_text(FLAKY_LLM_WORLD)
    env = {**os.environ, "PREFECT_HOME": str(prefect_home), "AGENTFAB_LLM_KEY": SECRET,
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent / "fixtures")])}
    base = {"seed": 5, "records": 20, "shard_size": 20, "worlds": [{"python": "flaky_llm"}],
            "tasks": {"mix": {"single": 1}}}

    def build(recipe: dict, out: Path) -> subprocess.CompletedProcess:
        path = write(tmp_path / f"{out.name}.yaml", recipe)
        return subprocess.run([sys.executable, "-m", "agentfab", "build", str(path), "--out", str(out), "--workers",
                               "1", "--quiet"], env=env, capture_output=True, text=True, timeout=300)

    oracle = build({**base, "name": "flakyoracle"}, tmp_path / "oracle")
    assert oracle.returncode == 0, oracle.stderr[-3000:]
    script = agent_script([r for r in rows(tmp_path / "oracle").to_dicts() if r["provenance"]["negative"] is None])
    broken = []
    for first, turns in sorted(script.items()):
        calls = turns[0].get("tool_calls") or []
        if len(broken) < 2 and calls and calls[0]["function"]["name"] == "get_todo" \
                and "TD-004" not in calls[0]["function"]["arguments"]:
            calls[0]["function"]["arguments"] = json.dumps({"todo_id": "TD-004"})  # the model asks for the bad one
            broken.append(first)
    assert broken, "no scripted task calls get_todo first"
    with LoopbackServer(ScriptedModel(script)) as server:
        role = llm_recipe("x", 20, server.base_url)["models"]["agent"]
        done = build({**base, "name": "flakyllm", "rollouts": {"agent": "llm", "max_steps": 6},
                      "models": {"agent": role}}, tmp_path / "llm")
    assert done.returncode == 0, done.stderr[-3000:]
    data = rows(tmp_path / "llm")
    hit = data.filter(pl.col("verification").struct.field("reasons").list.contains("exec.tool_raised"))
    assert sorted(hit["query"].to_list()) == sorted(broken)
    details = " ".join(d for ds in hit["verification"].struct.field("details").to_list() for d in ds)
    assert "tool get_todo raised ZeroDivisionError: ratio of TD-004 is undefined" in details
    assert data.filter(pl.col("verification").struct.field("passed")).height > 0  # the rest was built


def test_a_python_tool_that_raises_on_a_proposed_intent_rejects_that_task_alone(tmp_path, prefect_home):
    """The generator proposes a call the user's buggy tool raises on: that task is rejected, the build goes on."""
    (tmp_path / "flaky_llm.py").write_text(FLAKY_LLM_WORLD.replace('todo_id == "TD-004"', 'todo_id'))
    env = {**os.environ, "PREFECT_HOME": str(prefect_home), "AGENTFAB_LLM_KEY": SECRET,
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent / "fixtures")])}
    with LoopbackServer(ScriptedModel()) as server:
        role = llm_recipe("x", 20, server.base_url)["models"]["generator"]
        recipe = write(tmp_path / "r.yaml", {"name": "flakyintents", "seed": 5, "records": 20, "shard_size": 20,
                                             "worlds": [{"python": "flaky_llm"}], "negatives": 0.0,
                                             "tasks": {"mix": {"single": 1}, "intents": 1.0},
                                             "models": {"generator": role}})
        done = subprocess.run([sys.executable, "-m", "agentfab", "build", str(recipe), "--out", str(tmp_path / "o"),
                               "--workers", "1", "--quiet"], env=env, capture_output=True, text=True, timeout=300)
        proposed = [b for b in server.log if role_of(b) == "intents"]
    assert done.returncode == 0, done.stderr[-3000:]
    assert proposed and "get_todo" in json.dumps(proposed)
    hit = rows(tmp_path / "o").filter(pl.col("verification").struct.field("reasons").list.contains("exec.tool_raised"))
    details = " ".join(d for ds in hit["verification"].struct.field("details").to_list() for d in ds)
    assert "tool get_todo raised ZeroDivisionError: ratio of TD-" in details


def test_an_llm_build_through_the_openai_clients_public_api_makes_the_same_rows_and_requests(tmp_path, script,
                                                                                              monkeypatch):
    """AGENTFAB_LLM_PUBLIC_API=1 forces the fallback the client takes when the openai client's private request API is
    missing or changed (tests/test_llm_client.py plays those releases): same requests, same rows, every role."""
    monkeypatch.setenv("AGENTFAB_LLM_KEY", SECRET)
    with LoopbackServer(ScriptedModel(script)) as server:
        recipe = llm_recipe("llmpublic", 12, server.base_url)
        built = {}
        for path in ("private", "public"):
            monkeypatch.setenv("AGENTFAB_LLM_PUBLIC_API", "1" if path == "public" else "0")
            first = len(server.log)
            make_build(tmp_path / path, recipe)
            usage = json.loads((tmp_path / path / "manifest.json").read_text())["llm"]["usage"]
            assert set(usage) == {"agent", "generator", "judge", "user"}
            assert all(u["public_api"] == (u["requests"] if path == "public" else 0) and u["requests"] > 0
                       for u in usage.values())
            built[path] = (rows(tmp_path / path), sorted(map(request_key, server.log[first:])))
    assert built["public"][1] == built["private"][1]
    assert built["public"][0].equals(built["private"][0])
