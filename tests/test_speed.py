"""Speed work that must not change behaviour: the collector settings a shard build uses are put back after it."""

from __future__ import annotations

import gc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentfab.flows.shard import fewer_collections


def test_a_shard_build_restores_the_collector_thresholds_even_nested_and_on_error():
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == 50_000
        with fewer_collections():  # shards run in threads of one process: the last one out restores
            assert gc.get_threshold()[0] == 50_000
        assert gc.get_threshold()[0] == 50_000
    assert gc.get_threshold() == before
    with fewer_collections(0):  # an offline shard: no automatic collection
        assert gc.get_threshold()[0] == 0
        with fewer_collections():  # a second shard in another thread keeps the first one's setting
            assert gc.get_threshold()[0] == 0
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError):
        with fewer_collections():
            raise RuntimeError("a shard failed")
    assert gc.get_threshold() == before


def _near_by_brute_force(rows: list[frozenset[str]], threshold: float) -> list[str | None]:
    """The near-duplicate verdicts a scan of every earlier accepted row in order gives (the original algorithm)."""
    accepted: list[frozenset[str]] = []
    out: list[str | None] = []
    for feats in rows:
        verdict = None
        for other in accepted:
            if other & feats:
                similarity = len(feats & other) / len(feats | other)
                if similarity >= threshold:
                    verdict = f"Jaccard {similarity:.2f} with an accepted row"
                    break
        out.append(verdict)
        if verdict is None:
            accepted.append(feats)
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.frozensets(st.sampled_from("abcdefgh"), min_size=1, max_size=5), min_size=1, max_size=40),
       st.sampled_from([0.3, 0.5, 0.67, 0.9]))
def test_near_duplicates_are_the_earliest_similar_row_as_a_full_scan_finds_it(rows, threshold):
    import agentfab.validators.dedup as dedup

    real = dedup.features
    dedup.features = lambda task, arguments=None: set(task)  # the rows' feature sets stand in for tasks
    try:
        deduper = dedup.Deduper(threshold)
        got = []
        for i, feats in enumerate(rows):
            found = deduper.check(feats, [], key=f"row-{i}")  # distinct keys: only the near path decides
            got.append(found[1] if found else None)
    finally:
        dedup.features = real
    assert got == _near_by_brute_force(rows, threshold)
    if len(rows) >= 2 and rows[0] == rows[1]:  # negative control: a repeated feature set is always caught
        assert got[1] is not None


def test_tools_with_the_same_parameter_schema_share_one_compiled_validator_and_others_do_not():
    import copy

    from agentfab.worlds.core import compile_parameters

    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^A-[0-9]{3}$"}},
              "required": ["code"], "additionalProperties": False}
    same = compile_parameters(schema)
    assert compile_parameters(copy.deepcopy(schema)) is same
    same({"code": "A-123"})
    other = copy.deepcopy(schema)
    other["properties"]["code"]["pattern"] = "^B-[0-9]{3}$"
    checked = compile_parameters(other)
    assert checked is not same
    checked({"code": "B-123"})  # negative control: the other schema's rule, not the cached one, decides
    with pytest.raises(Exception, match="must match pattern"):
        checked({"code": "A-123"})


def test_shard_quality_from_the_checks_counts_equals_reading_every_row_back(tmp_path):
    import json

    import pyarrow.parquet as pq

    from agentfab.flows.quality import shard_quality
    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.shard import ShardJob, build_shard
    from agentfab.flows.storage import paths

    recipe = parse_recipe({"name": "q", "seed": 11, "records": 120, "shard_size": 120, "worlds": ["bank", "travel"],
                           "negatives": 0.1})
    build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp_path), str(tmp_path / "out"), 0))
    p = paths(tmp_path / "out", 0)
    stats = json.loads(p["stats"].read_text())["quality"]
    read = shard_quality(pq.read_table(p["accepted"]).to_pylist(), pq.read_table(p["rejected"]).to_pylist())
    assert stats == read.model_dump(mode="json") and read.asked_facts > 0


def test_the_truth_check_counts_a_fact_left_out_of_a_reply_as_asked_not_stated():
    import random

    from agentfab.generators.queries import to_task
    from agentfab.generators.rollouts import OracleAgent
    from agentfab.generators.tasks import Composer
    from agentfab.schemas.answers import replace_mentions
    from agentfab.validators.replay import replay, truth
    from agentfab.worlds.registry import builtin_domain

    domain = builtin_domain("shop")
    store = domain.seeded(5)
    for seed in range(50):
        rng = random.Random(seed)
        plan = Composer(domain, store, 5).compose("single", rng)
        task = to_task(plan, domain, rng, task_id="t", kind="single", distractors=2)
        content = OracleAgent(domain, store).roll_out(task, rng).content
        offered = {n: domain.tool(n) for n in task.tools}
        values = [v for f in task.user_turns[0].facts for v in f.values]
        if not values:
            continue
        failures, counted = truth(task, content, replay(content, offered, store))
        assert not failures and counted == (len(values), len(values))
        broken = [dict(e) for e in content]
        broken[-1]["content"] = replace_mentions(broken[-1]["content"], values[0], "something")
        failures, counted = truth(task, broken, replay(broken, offered, store))
        assert failures and counted[0] == len(values) and counted[1] < len(values)  # negative control
        return
    raise AssertionError("no single task with an asked fact")


_CYCLES = """
import gc, sys
import agentfab.flows.shard as shard
from agentfab.flows.recipe import parse_recipe

recipe = parse_recipe({"name": "gc", "seed": 4, "records": 450, "shard_size": 150, "worlds": ["bank", "library"],
                       "negatives": 0.2, "rollouts": {"agent": "oracle", "recovery": 0.3}})
jobs = [shard.ShardJob(recipe.canonical(), recipe.hash(), sys.argv[1], sys.argv[1] + "/out", i) for i in range(3)]
shard.build_shard(jobs[0])  # seeds the worlds (their garbage is the first shard's, once per process)


def cycles(job):
    gc.collect()
    gc.disable()
    shard.build_shard(job)
    assert gc.get_threshold()[0] != 0  # put back
    found = gc.collect()
    gc.enable()
    return found


plain = cycles(jobs[1])
provenance = shard._provenance


def cyclic(*args, **kwargs):  # negative control: one self-referencing list per task
    loop = []
    loop.append(loop)
    return provenance(*args, **kwargs)


shard._provenance = cyclic
print(plain, cycles(jobs[2]))
"""


def test_an_offline_shard_leaves_almost_no_cyclic_garbage_for_the_collector_it_runs_without(tmp_path):
    import subprocess
    import sys

    # a process of its own: threads other tests leave running (Prefect's) make garbage of their own meanwhile
    done = subprocess.run([sys.executable, "-c", _CYCLES, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    plain, cyclic = map(int, done.stdout.split())
    assert plain < 150, f"{plain} objects in reference cycles from 150 tasks: find what makes them"
    assert cyclic >= 150  # the bound above catches one cycle per task


def test_exploring_reuses_a_read_only_answer_per_seeded_variant_and_executes_everything_else(monkeypatch):
    import random

    from agentfab.generators.tasks import FAILED, Composer, Step
    from agentfab.generators.values import sample_arguments

    domain = __import__("agentfab.worlds.registry", fromlist=["x"]).builtin_domain("bank")
    base = domain.seeded(3)
    composer = Composer(domain, base.with_offset(17), 3)
    runs: list[str] = []
    for tool in domain.tools:
        real = tool.run
        monkeypatch.setattr(tool, "run", lambda *a, _real=real, _name=tool.name, **k: runs.append(_name) or _real(*a, **k))
    rng = random.Random(2)
    read = next(t for t in domain.tools if not t.spec.mutates and t.spec.parameters.get("required"))
    write = next(t for t in domain.tools if t.spec.mutates)
    for tool in (read, write):
        for _ in range(20):  # arguments that succeed
            step = Step("x", tool.name, sample_arguments(tool, composer.pools, rng))
            executed = composer.execute([step])
            if executed is not None:
                break
        runs.clear()
        first = composer.try_call(step)
        composer.store = base.with_offset(900)  # another task on the same seeded variant
        second = composer.try_call(Step("y", step.tool, dict(step.arguments)))
        assert first is not FAILED and first == executed[0]["x"]
        if tool is read:
            assert second == first and runs == [read.name]  # executed once, then answered from the variant's reads
            read_args = dict(step.arguments)
        else:  # negative control: a write depends on the task's world (its new ids): on the world it was executed
            # alone in, its result is that execution's; on another task's world it executes again
            assert runs == [write.name] and second != FAILED
    import dataclasses

    composer.tools[read.name] = dataclasses.replace(  # a user's module: never assumed pure
        read, spec=read.spec.model_copy(update={"source": "python"}))
    composer._reads.clear()
    runs.clear()
    composer.try_call(Step("z", read.name, dict(read_args)))
    composer.try_call(Step("z", read.name, dict(read_args)))
    assert runs == [read.name, read.name]


_SCALARS = st.one_of(st.integers(-3, 3), st.sampled_from([0.0, 1.0, 2.0, 2.5, float("nan")]), st.booleans(), st.none(),
                     st.sampled_from(["a", "b", "ACC-1"]))
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=2), st.dictionaries(st.sampled_from("xy"), _SCALARS, max_size=2))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["t1", "t2"]), st.dictionaries(st.sampled_from(["p", "q"]), _VALUES,
                                                                          min_size=1, max_size=2),
                          st.one_of(st.dictionaries(st.sampled_from(["f", "g"]), _SCALARS, max_size=2),
                                    st.just({"error": {"code": "not_found"}}))), max_size=30),
       st.integers(1, 4))
def test_the_value_bank_keeps_what_a_scan_of_its_lists_keeps(calls, cap):
    """The bank's sets answer `in` as its lists did (2 == 2.0 == True stay one value; lists and dicts scanned);
    its lists, filled from its log only when asked for, hold what reading every call as it came kept (a call whose
    result is an error is no call to learn from; results are parsed only when their tool is asked about)."""
    import orjson

    from agentfab.generators.value_bank import ValueBank

    bank = ValueBank(cap=cap)
    for n, (tool, kwargs, result) in enumerate(calls):  # one trajectory per call, some lists asked for between
        bank.observe([{"class_": "api_action", "function": tool, "kwargs": kwargs, "tool_call_id": f"c{n}"},
                      {"class_": "text_observation", "source": "environment", "tool_call_id": f"c{n}",
                       "content": orjson.dumps(result).decode()}])
        if n % 3 == 1:  # the yes/no forms answer as the lists do, asked before the lists are brought up to date
            answers = [(bank.has_calls(tool), bank.has_other(tool, "p", 1), bank.has_other(tool, "f", "a"))]
            answers.append((bool(bank.calls(tool)), bool(bank.values(tool, "p", 1)), bool(bank.values(tool, "f", "a"))))
            assert answers[0] == answers[1]
            bank.kept(tool, "p"), bank.kept(tool, "f")
    values: dict = {}
    whole: dict = {}
    for tool, kwargs, result in calls:  # the lists a scan keeps
        if "error" in result:
            continue
        parsed = orjson.loads(orjson.dumps(result))
        for key, v in [((tool, p), v) for p, v in kwargs.items()] + [((tool, f), v) for f, v in parsed.items()]:
            seen = values.setdefault(key, [])
            if len(seen) < cap and v not in seen:
                seen.append(v)
        kept = whole.setdefault(tool, [])
        if len(kept) < cap and kwargs not in kept:
            kept.append(kwargs)
    same = lambda a, b: orjson.dumps(a) == orjson.dumps(b)  # noqa: E731 - NaN != NaN, its text is the same
    assert all(same(bank.kept(*k), v) for k, v in values.items())
    assert all(same(bank.calls(t), c) for t, c in whole.items())
    assert bank.kept("t1", "never") == [] and bank.calls("t3") == []


_FLAKY = '''
from byo_tools import DESCRIPTION, ENTITIES, NAME, Todo, TodoId, count_open, seed_state, set_status
from agentfab.worlds.authoring import tool
from agentfab.worlds.core import Store


@tool(phrases=("show to-do {todo_id}", "what is to-do {todo_id} about"))
def get_todo(db: Store, todo_id: TodoId) -> Todo:
    """Get one to-do item."""
    t = db.get("todos", todo_id)
    if t is None or int(todo_id[3:]) % 4 == 0:
        raise ZeroDivisionError(todo_id)
    return {"todo_id": t["id"], "project_id": t["project_id"], "title": t["title"], "status": t["status"]}
'''


def test_a_shard_run_stage_by_stage_over_chunks_makes_the_rows_of_running_each_task_through_every_stage(
        tmp_path, monkeypatch):
    import json
    from pathlib import Path

    import pyarrow.parquet as pq

    import agentfab.flows.shard as shard
    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.storage import paths

    (tmp_path / "flaky_chunks.py").write_text(_FLAKY)
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fixtures"))
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = parse_recipe({"name": "chunks", "seed": 5, "records": 120, "shard_size": 120,
                           "worlds": ["bank", "library", {"python": "flaky_chunks"}], "negatives": 0.3})

    def build(chunk: int) -> tuple[list[dict], list[dict], dict]:
        monkeypatch.setattr(shard, "CHUNK", chunk)
        out = tmp_path / f"out-{chunk}"
        shard.build_shard(shard.ShardJob(recipe.canonical(), recipe.hash(), str(tmp_path), str(out), 0))
        p = paths(out, 0)
        stats = json.loads(p["stats"].read_text())
        for key in ("timings", "seconds"):
            stats.pop(key)
        return pq.read_table(p["accepted"]).to_pylist(), pq.read_table(p["rejected"]).to_pylist(), stats

    accepted, rejected, stats = build(1)  # one task at a time: every stage in turn, as before chunks
    assert build(7) == (accepted, rejected, stats)
    assert build(1000) == (accepted, rejected, stats)  # the whole shard in one chunk
    # what the comparison covers: rows a tool raised on (at several stages), and in one chunk of 7 a negative
    # placed before the rejected row of a later task (its own row's place, not the chunk's end)
    assert stats["reasons"].get("exec.tool_raised", 0) >= 2
    ids = [r["id"] for r in rejected]
    task = [int(i.removesuffix("-neg").rsplit("-", 1)[1]) for i in ids]
    assert any(ids[i].endswith("-neg") and not ids[j].endswith("-neg") and task[i] // 7 == task[j] // 7
               for i in range(len(ids)) for j in range(i + 1, len(ids))), ids
