"""Compose-stage speed work that must not change a plan: what exploring already computed is reused only where it is
provably the same computation, and everything else still executes."""

from __future__ import annotations

import dataclasses
import random

import pytest
from pydantic import BaseModel

from agentfab.generators.tasks import FAILED, Composer, Step
from agentfab.generators.values import sample_arguments
from agentfab.generators.width import independent
from agentfab.worlds.core import canonical_json
from agentfab.worlds.registry import builtin_domain


@pytest.fixture
def counted(monkeypatch):
    """A bank composer whose tools record each real execution."""
    domain = builtin_domain("bank")
    composer = Composer(domain, domain.seeded(3).with_offset(17), 3)
    runs: list[str] = []
    for tool in domain.tools:
        real = tool.run
        monkeypatch.setattr(tool, "run", lambda *a, _real=real, _name=tool.name, **k: runs.append(_name) or _real(*a, **k))
    return composer, runs


def _succeeding(composer: Composer, mutates: bool, sid: str) -> Step:
    rng = random.Random(4)
    for tool in composer.domain.tools:
        if tool.spec.mutates != mutates or not tool.spec.parameters.get("required"):
            continue
        for _ in range(30):
            step = Step(sid, tool.name, sample_arguments(tool, composer.pools, rng))
            if composer.execute([step]) is not None:
                return step
    raise AssertionError("no succeeding call")


def test_executing_a_plan_answers_a_read_it_met_alone_on_a_fresh_world_and_runs_it_after_a_write(counted):
    composer, runs = counted
    read, write = _succeeding(composer, False, "t1"), _succeeding(composer, True, "t2")
    composer.compose("single", random.Random(1))  # a new plan: nothing met yet
    runs.clear()
    alone = composer.try_call(read)
    assert alone is not FAILED and runs == [read.tool]
    runs.clear()
    results, diff = composer.execute([Step("s1", read.tool, dict(read.arguments))])
    assert runs == [] and results["s1"] == alone and diff == {}  # met alone on a fresh world: the same answer

    # negative controls: after a write the read executes for real; so does one the plan never met alone
    executed = composer.execute([Step("s1", write.tool, dict(write.arguments)),
                                 Step("s2", read.tool, dict(read.arguments))])
    assert executed is not None and runs == [write.tool, read.tool]
    runs.clear()
    composer.compose("single", random.Random(1))  # the next plan starts with nothing met
    runs.clear()
    composer.execute([Step("s1", read.tool, dict(read.arguments))])
    assert runs == [read.tool]


def test_a_read_of_a_users_module_is_never_answered_from_what_exploring_met(counted):
    composer, runs = counted
    read = _succeeding(composer, False, "t1")
    tool = composer.tools[read.tool]
    composer.tools[read.tool] = dataclasses.replace(tool, spec=tool.spec.model_copy(update={"source": "python"}))
    composer.compose("single", random.Random(1))
    runs.clear()
    composer.try_call(read)
    composer.execute([Step("s1", read.tool, dict(read.arguments))])
    assert runs == [read.tool, read.tool]


def test_the_memos_of_all_variants_stay_within_the_process_budget_and_forgetting_changes_no_plan(monkeypatch):
    """A worker holds every variant of every domain; each variant's memo cap alone let a 1M-task build's workers
    grow ~1 MB per shard. Over the process budget every composer forgets, and the plans are the same."""
    from agentfab.worlds import memo_budget

    domains = [builtin_domain(n) for n in ("bank", "travel", "shop", "library")]

    def plans() -> list[object]:
        out = []
        composers = [Composer(d, d.seeded(s), s) for d in domains for s in (1, 2)]
        for i in range(120):
            composer = composers[i % len(composers)]
            plan = composer.compose(("single", "chain", "parallel")[i % 3], random.Random(i))
            out.append(None if plan is None else [(s.tool, s.arguments) for s in plan.steps])
            kept = sum(len(c._reads) + len(c.index._links) for c in composers)
            assert kept <= memo_budget.KEPT_IN_PROCESS + 2, kept
        return out

    roomy = plans()
    monkeypatch.setattr(memo_budget, "KEPT_IN_PROCESS", 10)
    assert plans() == roomy and any(p is not None and len(p) > 1 for p in roomy)


def _round_trips(plan, tools) -> list[str]:
    """What a chain must never do: use a tool twice, or feed a call by a sub-task whose input the chain already
    states (a later call's argument) or the fed call itself returns (a round trip)."""
    from agentfab.worlds.core import canonical_json

    faults = []
    steps = plan.steps
    if len({s.tool for s in steps}) != len(steps):
        faults.append("a tool twice")
    for i, sub in enumerate(steps[:-1]):
        later = {canonical_json(v) for s in steps[i + 1:] for v in s.arguments.values()}
        fed = plan.results[steps[i + 1].id]
        returned = {canonical_json(v) for v in fed.values()} if isinstance(fed, dict) and not tools[
            steps[i + 1].tool].spec.mutates else set()
        for value in sub.arguments.values():
            if canonical_json(value) in later | returned:
                faults.append(f"{sub.tool} takes {value!r}, which the chain already states")
    return faults


@pytest.mark.parametrize("world", ["bank", "shop", "travel", "calendar", "library"])
def test_a_chain_drawn_from_the_catalog_never_round_trips_and_reaches_every_depth(world):
    domain = builtin_domain(world)
    composer = Composer(domain, domain.seeded(4), 4)
    depths = set()
    for i in range(80):
        plan = composer.compose("chain", random.Random(i))
        if plan is None:
            continue
        assert not _round_trips(plan, composer.tools), [(s.tool, s.arguments) for s in plan.steps]
        depths.add(plan.depth)
    assert {2, 3} <= depths, depths
    # negative control: the same chain with its first call's input set to a value a later call states is caught
    plan = next(p for p in (composer.compose("chain", random.Random(i)) for i in range(80)) if p and p.depth >= 2)
    first, second = plan.steps[0], plan.steps[1]
    param = next(iter(first.arguments))
    first.arguments[param] = next(iter(second.arguments.values()))
    assert _round_trips(plan, composer.tools)


def test_two_values_share_a_value_key_exactly_when_they_share_canonical_json():
    """A chain excludes inputs by `value_key` (no JSON made for a str or an int): it must tell values apart just as
    their canonical JSON does, including the values Python calls equal (1, 1.0, True) and odd types whose JSON
    spells a str or an int."""
    import decimal

    from agentfab.generators.depth_index import value_key, value_keys
    from agentfab.worlds.core import canonical_json

    values = ["1", 1, 1.0, True, False, 0, "0", "true", None, "null", "", -7, "-7", 2**70, str(2**70), 1.5, "1.5",
              decimal.Decimal("1"), decimal.Decimal("1.5"), [1], "[1]", {"a": 1}, '{"a":1}', (1,), "é", 'say "hi"',
              "back\\slash", "tab\there", "\u2028", ("json", "1")]
    for a in values:
        for b in values:
            assert (value_key(a) == value_key(b)) == (canonical_json(a) == canonical_json(b)), (a, b)
    assert len(value_keys(values)) == len({canonical_json(v) for v in values})
    assert value_keys(["x", 3, True]) == frozenset({"x", 3, value_key(True)})


def test_an_extension_is_drawn_uniformly_among_the_calls_whose_input_is_fresh():
    from agentfab.generators.depth_index import any_fresh, draw_fresh

    entries = [({"x": v}, {}, f'"{v}"', v) for v in ("a", "b", "c", "d")]
    said, returned = {"a", "c"}, frozenset({"d"})
    assert any_fresh(entries, said, returned)
    rng = random.Random(0)
    drawn = {draw_fresh(entries, said, returned, rng)[2] for _ in range(50)}
    assert drawn == {'"b"'}
    assert any_fresh(entries[1:2], set(), frozenset())
    assert not any_fresh(entries, said | {"b"}, returned)  # negative control: every input already stated
    counts = {v: 0 for v in ('"b"', '"d"')}
    for _ in range(2000):
        counts[draw_fresh(entries, said, frozenset(), rng)[2]] += 1
    assert all(900 < n < 1100 for n in counts.values()), counts  # uniform among the fresh ones


def test_a_plan_that_ends_in_a_write_met_alone_takes_its_result_and_change_and_anything_else_executes(counted):
    composer, runs = counted
    write = _succeeding(composer, True, "t1")
    read = _succeeding(composer, False, "t2")
    composer.compose("single", random.Random(1))  # a new plan: nothing met yet
    runs.clear()
    alone = composer.execute([Step("t1", write.tool, dict(write.arguments))])
    assert runs == [write.tool]
    runs.clear()
    again = composer.execute([Step("s1", write.tool, dict(write.arguments))])
    assert runs == [] and again[0]["s1"] == alone[0]["t1"] and again[1] == alone[1] and again[1]
    composer.try_call(read)
    runs.clear()
    led = composer.execute([Step("s1", read.tool, dict(read.arguments)), Step("s2", write.tool, dict(write.arguments))])
    assert runs == [] and led[1] == alone[1]  # a read met alone first changes nothing
    # negative controls: the write first (another call after it), or on another task's world
    runs.clear()
    composer.execute([Step("s1", write.tool, dict(write.arguments)), Step("s2", read.tool, dict(read.arguments))])
    assert runs == [write.tool, read.tool]
    runs.clear()
    composer.store = composer.store.with_offset(40)
    moved = composer.execute([Step("s1", write.tool, dict(write.arguments))])
    assert runs == [write.tool] and moved is not None


def test_a_parallel_plan_takes_its_truth_from_the_forward_run_independence_made_of_the_same_steps(counted):
    """`finish` of members `independent` just accepted runs nothing again: the same calls in the same order on the
    same state. Negative controls: members in another order, or an equal but other step, execute for real."""
    composer, runs = counted
    composer.compose("single", random.Random(1))
    write = _succeeding(composer, True, "t1")
    rng = random.Random(5)
    for tool in composer.domain.tools:
        if tool.spec.mutates or not tool.spec.parameters.get("required"):
            continue
        read = Step("t2", tool.name, sample_arguments(tool, composer.pools, rng))
        if composer.execute([read]) is not None and independent(composer, [[write], [read]]):
            break
    else:
        raise AssertionError("no read independent of the write")
    runs.clear()
    plan = composer.finish("parallel", [[write], [read]], "f")
    assert plan is not None and runs == []
    fresh = composer.execute([Step(s.id, s.tool, dict(s.arguments)) for s in plan.steps])
    assert fresh is not None and canonical_json(fresh) == canonical_json((plan.results, plan.state_diff))

    assert independent(composer, [[write], [read]])
    runs.clear()
    swapped = composer.finish("parallel", [[read], [write]], "f")
    assert swapped is not None and read.tool in runs  # (the write, last and met alone, may come from `_wrote`)
    assert independent(composer, [[write], [read]])
    runs.clear()
    composer.finish("parallel", [[Step("t1", write.tool, dict(write.arguments))], [read]], "f")
    assert write.tool in runs


def test_a_phrased_task_of_every_kind_built_without_validation_is_the_task_validation_gives():
    """`to_task` builds the Task from values it made itself (`schemas.tasks.built`): validating each one's dump
    again gives an equal task, for every kind of task over every built-in world."""
    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.stages import Compose, ShardWorld, TemplatePhrase
    from agentfab.schemas.tasks import TASK_KINDS, Task, built

    worlds = ["bank", "shop", "travel", "calendar", "library"]
    recipe = parse_recipe({"name": "every-kind", "seed": 5, "records": 270, "worlds": worlds,
                           "tasks": {"mix": {kind: 1 for kind in TASK_KINDS}}})
    shard = [ShardWorld(w, builtin_domain(w), 11 + i, recipe, 2) for i, w in enumerate(worlds)]
    rng = random.Random(5)
    compose, phrase = Compose(recipe, shard, rng), TemplatePhrase(recipe, shard, rng)
    def in_order(model: BaseModel) -> bool:  # every field, in declared order and set, as validation leaves them
        return list(vars(model)) == list(type(model).model_fields) and model.model_fields_set == set(
            vars(model)) and all(
            in_order(v) for value in vars(model).values()
            for v in (value if isinstance(value, list) else [value]) if isinstance(v, BaseModel))

    kinds = set()
    for k in range(recipe.records):
        task = phrase(compose(k, f"t{k}"))
        assert Task.model_validate(task.model_dump()) == task and in_order(task), task.kind
        kinds.add(task.kind)
    assert kinds == set(TASK_KINDS)
    # negative control: a value of the wrong type, built the same way, is what validating again refuses
    wrong = built(Task, {**dict(task), "depth": -1})
    with pytest.raises(ValueError):
        Task.model_validate(wrong.model_dump())


def test_a_call_the_depth_index_executed_over_every_input_is_answered_from_it_as_executing_it_alone_answers(counted):
    """Building a producer's inverse index executes it over every value of its input: a task exploring the same
    call (an own read-only tool, one argument) takes that answer instead of executing it again."""
    composer, runs = counted
    producer, driver, field = next(p for entity in sorted(composer.index.producers)
                                   for p in composer.index.producers[entity])
    composer.index.inverse(composer.store, producer, driver, field)
    values = composer.pools.pool(producer.spec.parameters["properties"][driver]["x-entity"])
    runs.clear()
    for value in values:
        answer = composer.try_call(Step("t1", producer.name, {driver: value}))
        alone = producer.invoke(composer.store.fork(), {driver: value})
        assert answer == (FAILED if "error" in alone else alone)
    assert runs == [producer.name] * len(values)  # only the executions alone above, for the comparison
    # negative control: without the index's answers the same call executes
    composer.index.answers.clear()
    composer._alone.clear()  # what this plan met alone (above) would answer it too
    runs.clear()
    composer.try_call(Step("t2", producer.name, {driver: values[0]}))
    assert runs == [producer.name]


def test_the_direct_draws_give_what_the_random_methods_they_replace_give():
    """`values.sample` and `values.shuffle` draw as `rng.sample` and `rng.shuffle` do (both paths of
    sample: a pool for small populations, a set of picks for large ones), and leave the stream where they leave it."""
    from agentfab.generators.values import sample, shuffle

    for n in range(8):
        ours, theirs = random.Random(n), random.Random(n)
        mine, other = list(range(n)), list(range(n))
        shuffle(ours, mine)
        theirs.shuffle(other)
        assert mine == other and ours.random() == theirs.random()
    for n in (0, 1, 3, 21, 22, 60, 200):
        for k in sorted({0, min(n, 1), min(n, 3), min(n, 6), n // 2, n}):
            for seed in range(4):
                ours, theirs = random.Random(seed), random.Random(seed)
                population = [f"t{i}" for i in range(n)]
                assert sample(ours, population, k) == theirs.sample(population, k)
                assert ours.random() == theirs.random()
    with pytest.raises(ValueError):
        sample(random.Random(0), ["a"], 2)


def test_fact_values_of_text_are_normalized_as_before_and_never_shared_between_tasks():
    from agentfab.schemas.answers import normalize
    from agentfab.schemas.tasks import fact_values

    for value in ("In_Transit", "closed_lost", "  Two  words ", "", ["a_b", "A_B", "x y"], [1, 2.5, True], 12345):
        expected = [normalize(v) for v in value] if isinstance(value, list) else [normalize(value)]
        assert fact_values(value) == list(dict.fromkeys(expected))
    first = fact_values("same text")
    first.append("changed")
    assert fact_values("same text") == ["same text"]
    assert fact_values([{"a": 1}]) is None and fact_values({"a": 1}) is None and fact_values(["a", ["b"]]) is None


def test_a_chain_head_met_before_is_answered_from_the_variant_and_gives_the_plan_a_fresh_composer_gives():
    domain = builtin_domain("travel")
    store = domain.seeded(5)
    warm = Composer(domain, store.with_offset(3), 5)
    for seed in [*range(10), *range(10)]:  # the second round meets its heads again
        fresh = Composer(domain, store.with_offset(3), 5)
        for kind in ("chain", "compound"):
            ours, theirs = warm.compose(kind, random.Random(seed)), fresh.compose(kind, random.Random(seed))
            assert (ours is None) == (theirs is None)
            if ours is not None:
                assert (ours.steps, ours.results, ours.family) == (theirs.steps, theirs.results, theirs.family)
    assert warm._met  # heads were answered from what the variant met


@pytest.mark.parametrize("name", ["bank", "shop", "travel", "calendar", "library"])
def test_a_head_met_before_is_made_a_step_only_for_a_kept_chain_and_gives_a_fresh_composer_s_plans(name):
    """A warm composer makes a met head a step only when its chain is kept (`_head_step`); each plan, and the draws
    after it, equal a fresh composer's. Forgetting mid-way changes nothing."""
    domain = builtin_domain(name)
    store = domain.seeded(11)
    warm = Composer(domain, store.with_offset(5), 11)
    met = 0
    for round_ in range(3):  # the later rounds meet their heads again
        for seed in range(25):
            if round_ == 2 and seed % 7 == 3:
                warm.forget()
            fresh = Composer(domain, store.with_offset(5), 11)
            for kind in ("chain", "multi_turn", "compound"):
                ours_rng, theirs_rng = random.Random(seed), random.Random(seed)
                ours, theirs = warm.compose(kind, ours_rng), fresh.compose(kind, theirs_rng)
                assert ours_rng.random() == theirs_rng.random()  # the same draws were made
                assert (ours is None) == (theirs is None)
                if ours is not None:
                    assert (ours.steps, ours.results, ours.family, ours.depth) == (
                        theirs.steps, theirs.results, theirs.family, theirs.depth)
        met += len(warm._met)
    assert met  # heads were answered from what the variant met
