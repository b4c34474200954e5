"""Rollout-stage speed work that must not change a row: each shortcut gives what the long way gives, on any value."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agentfab.generators.facts import Said, facts, states_all
from agentfab.generators.reasoning import _asked_facts, _clause, _not_within, _not_within_each
from agentfab.generators.replies import fact_text
from agentfab.generators.call_order import NO_TURN, by_chain, schedule, terminal_steps, levels
from agentfab.schemas.tasks import PlanStep
from agentfab.worlds.registry import builtin_domain

BANK = builtin_domain("bank")
# values with what decides a whole token: case, '.', '_', '-', '@', digits, white space of every kind, non-ASCII
VALUES = st.one_of(st.sampled_from(["ACC-1003", "active", "Jr.", "0", "", " x", "x ", "a  b", "a\tb", "USD",
                                    "in_transit", "É", "ß", "x.y", "@x", "1,204.50"]),
                   st.text(alphabet="aZ09 .,:_-@\t\nÉ\x00", max_size=8))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["the owner", "the status", "the currency", "the balance", "it has"]),
                          st.sampled_from([" is ", " are ", " "]), VALUES), max_size=5),
       st.integers(1, 3))
def test_a_thought_keeps_the_facts_no_other_fact_carries_as_the_pairwise_comparison_does(parts, most):
    found = list(dict.fromkeys(a + b + c for a, b, c in parts))  # facts come each once
    assert _not_within(found, most) == _not_within_each(found, most)
    doubled = found + found[:1]  # and where one comes twice, the same as the comparison
    assert _not_within(doubled, most) == _not_within_each(doubled, most)


def _said(result: dict, asks: tuple[str, ...], tool: str = "get_account") -> Said:
    return Said(BANK.tool(tool), {"account_id": "ACC-1003"}, result, asks)


@settings(max_examples=500, deadline=None)
@given(st.lists(VALUES, min_size=4, max_size=4), st.lists(st.sampled_from(["", " ", ", ", ": ", ".", " and ", "x",
                                                                           "-", "_", "'", "É", ". ", "(", ")", ") ",
                                                                           " (", ".x"]), min_size=5,
                                                          max_size=5), st.permutations(range(4)))
def test_a_text_said_to_state_every_fact_leaves_none_unsaid(values, glue, order):
    result = dict(zip(("account_id", "owner_id", "type", "status"), values))
    part = _said(result, ("account_id", "owner_id", "type", "status"))
    text = glue[0] + "".join(values[i] + glue[j + 1] for j, i in enumerate(order))
    if states_all(part, text):
        assert facts(part, said=text) == []


def test_states_all_answers_false_where_a_value_is_not_a_whole_token():  # the negative control
    part = _said({"account_id": "ACC-1003", "owner_id": "CUS-1", "type": "savings", "status": "active"},
                 ("owner_id", "status"))
    assert states_all(part, "For account ACC-1003, the owner is CUS-1 and the status is active.")
    assert not states_all(part, "For account ACC-1003, the owner is CUS-10 and the status is active.")
    assert not states_all(part, "For account ACC-1003, the owner is CUS-1 and the status is inactive.")
    assert not states_all(part, "Für account ACC-1003, the owner is CUS-1 and the status is active.")  # not ASCII


def _asked_facts_each(part: Said) -> tuple[list[str], list[str], str]:
    """The thought's facts worked out field by field (the way before `Said.spoken`)."""
    result = part.result if isinstance(part.result, dict) else {}
    texts: list[str] = []
    for f in part.asks:
        if f in result:
            text = part.clauses.get(f) or fact_text(part, f)
            if text not in texts:
                texts.append(text)
    named = _not_within(texts, 2) if len(texts) > 1 else texts
    return texts, named, _clause(part, named)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["account_id", "balance", "currency", "owner_id", "status"]), max_size=6),
       st.sampled_from(["USD", "ACC-1003", "active"]), st.floats(0, 1e6, allow_nan=False))
def test_a_thoughts_facts_read_off_the_clauses_are_those_found_field_by_field(asks, text, amount):
    for tool, result in (("get_balance", {"account_id": "ACC-1003", "balance": amount, "currency": text}),
                         ("get_account", {"account_id": "ACC-1003", "owner_id": text, "status": text}),
                         ("freeze_account", {"account_id": text, "status": "frozen"}),
                         ("get_account", "not a record")):
        part = _said(result, tuple(asks), tool)
        assert _asked_facts(part) == _asked_facts_each(part)


@st.composite
def _chained_plans(draw):
    """Plans of up to 6 steps over up to 3 turns, each step depending on some earlier steps of its turn or before."""
    steps: list[PlanStep] = []
    turn = 0
    for i in range(draw(st.integers(1, 6))):
        turn += draw(st.integers(0, 1)) if i and turn < 2 else 0
        deps = draw(st.lists(st.sampled_from([s.id for s in steps]), unique=True, max_size=2)) if steps else []
        steps.append(PlanStep(id=f"s{i + 1}", tool="t", arguments={}, depends_on=deps, turn=turn))
    return steps


@settings(max_examples=300, deadline=None)
@given(_chained_plans())
def test_a_chained_plans_turns_are_worked_out_once_per_shape_as_turn_by_turn(plan):
    turns = schedule(tuple((s.id, s.turn, tuple(s.depends_on)) for s in plan))
    for t in range(3):
        steps = [s for s in plan if s.turn == t]
        turn = turns.get(t, NO_TURN)
        assert [plan[i] for i in turn.steps] == steps
        if not steps:
            continue
        met = {s.id: None for s in plan if s.turn < t}  # each earlier turn made all its calls
        assert [[plan[i] for i in g] for g in turn.rounds] == levels(steps, met)
        assert turn.terminal == {s.id for s in terminal_steps(steps)}
        assert [plan[i] for i in turn.by_chain] == (by_chain(steps) if len(steps) > 1 else steps)


def _composed(recovery: float, n: int):
    """(agent, task, rng state) of `n` composed tasks of every kind over the five built-in worlds."""
    import random

    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.stages import Compose, ShardWorld, TemplatePhrase

    worlds = ["bank", "shop", "travel", "calendar", "library"]
    recipe = parse_recipe({"name": "known", "seed": 3, "records": n, "worlds": worlds,
                           "tasks": {"mix": {k: 1 for k in ("single", "parallel", "chain", "compound", "multi_turn",
                                                            "irrelevant", "clarify", "failure", "partial")}},
                           "rollouts": {"recovery": recovery}})
    shard = [ShardWorld(name, builtin_domain(name), 5, recipe) for name in worlds]
    rng = random.Random(8)
    compose, phrase = Compose(recipe, shard, rng), TemplatePhrase(recipe, shard, rng)
    for k in range(n):
        draft = compose(k, f"t{k}")
        yield draft.world.agent, phrase(draft), random.Random(k)


def test_a_rollout_that_takes_the_composed_results_as_known_is_the_rollout_that_runs_every_call():
    """Typos included (recovery 1.0: a mistyped id in most tasks). A typo made while no call taken so far wrote
    returns what it returned when tried on the seeded world, and the path of known results goes on past it; after a
    write, the typo makes the world for real, with the calls taken so far run in it, and every later call runs."""
    import random

    made = taken = kept = 0
    for recovery in (0.0, 1.0):
        for agent, task, rng in _composed(recovery, 120):
            state = rng.getstate()
            ran = agent.roll_out(task, rng)
            rng.setstate(state)
            fast = agent.roll_out(task, rng, task.results)
            assert (fast.content, fast.n_calls, fast.n_errors) == (ran.content, ran.n_calls, ran.n_errors)
            if fast.world is not None:
                made += 1
                assert fast.world.diff() == ran.world.diff()
            else:
                taken += ran.n_calls > 0
                kept += ran.n_calls > len(task.plan)  # a typo and its retry, past which known results were taken
    assert made >= 10 and taken >= 60 and kept >= 30
    # the negative control: a known result that is not what the call returns is what the rollout shows
    agent, task, rng = next((a, t, r) for a, t, r in _composed(0.0, 40) if t.kind == "single")
    wrong = {s: {"error": {"type": "not_found", "message": "no such thing"}} for s in task.results}
    assert agent.roll_out(task, random.Random(1), wrong).content != agent.roll_out(task, random.Random(1)).content


def test_known_results_are_not_taken_when_the_rollout_calls_in_another_order_than_the_plan():
    import random

    agent, task, _ = next((a, t, r) for a, t, r in _composed(0.0, 80) if t.kind == "multi_turn")
    wrong = {s: {"error": {"type": "not_found", "message": "no such thing"}} for s in task.results}
    later_first = task.model_copy(update={"plan": [task.plan[-1], *task.plan[:-1]]})  # a later turn's step first
    assert agent.roll_out(later_first, random.Random(1), wrong).content == \
        agent.roll_out(later_first, random.Random(1)).content


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="PH-0129 _xÉ٣.", max_size=14), st.sampled_from(["PH-01", "PH-0", "H-1", "PH-012"]))
def test_a_failed_actions_id_is_found_as_the_pattern_per_id_found_it(text, ident):
    import re

    from agentfab.generators.failures import _names

    assert _names(text, ident) == (re.search(rf"(?<![\w-]){re.escape(ident)}(?![\w-])", text) is not None)
    assert _names(f"delete policy {ident}", ident) and not _names(f"delete policy {ident}9", ident)  # control


def test_the_result_texts_a_rollout_carries_are_those_every_check_and_the_row_would_write():
    """The oracle writes each observation taken from the task's results once and carries the texts
    (`Rollout.texts`): the row and the replay read them instead of writing them again, with the same answers as
    without them; a text the replay was not given is compared as a text (the negative control)."""
    import random

    from agentfab.flows.rows import dataset_row
    from agentfab.validators.reading import Reading
    from agentfab.validators.replay import replay
    from agentfab.validators.verify import check
    from agentfab.worlds.core import canonical_json

    carried = 0
    for agent, task, rng in _composed(0.1, 160):
        out = agent.roll_out(task, rng, task.results)
        if out.texts is None:
            continue
        carried += 1
        texts = out.texts[1]
        assert out.texts[0] is task and texts == {k: canonical_json(task.results[k]) for k in texts}
        observed = {e["content"] for e in out.content if e.get("source") == "environment"}
        assert all(any(t is o for o in observed) for t in texts.values())  # the very strings of the events
        given, plain = Reading(out.content, out.texts), Reading(out.content)
        assert given.result_texts(task) is texts and plain.result_texts(task) == {}
        offered = {n: agent.domain.tool(n) for n in task.tools}
        a, b = check(task, out.content, offered, agent.store, given), check(task, out.content, offered, agent.store,
                                                                              plain)
        assert (a.reasons, a.details) == (b.reasons, b.details)
        row = {"row_id": task.id, "task": task, "content": out.content, "verdict": a, "domain": agent.domain,
               "provenance": {"recipe_name": "r", "recipe_hash": "h", "seed": 1, "shard": 0, "world_seed": 0,
                              "world_offset": 0, "world": "bank", "engine": "offline", "models": "{}",
                              "negative": None}, "dedup_key": ""}
        assert dataset_row(**row, reading=given) == dataset_row(**row, reading=plain)
        # the negative control: an observation that is not the text it was written as is compared as a text
        i = next(i for i, e in enumerate(out.content) if e.get("source") == "environment")
        for content, fails in (('{"changed":true}', True),  # another result
                               ("".join(list(out.content[i]["content"])), False)):  # an equal text, another string
            changed = [dict(e) if j == i else e for j, e in enumerate(out.content)]
            changed[i]["content"] = content
            found = replay(changed, offered, agent.store, reading=Reading(changed, out.texts)).failures
            assert any(code == "exec.observation_mismatch" for code, _ in found) == fails
    assert carried >= 60


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                 max_size=3), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(_JSON, st.one_of(st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=3),
                        st.dictionaries(st.booleans(), st.integers(-2 ** 63, 2 ** 63 - 1), min_size=1, max_size=2)))
def test_canonical_json_writes_every_value_as_the_option_for_keys_of_any_type_writes_it(value, other_keys):
    """canonical_json writes a value whose keys are all str without orjson's path for other keys (faster); the text
    is the one that path writes, and a value with other keys (the negative control: the fast path refuses it) or one
    orjson cannot write at all comes out as before."""
    import json

    import orjson

    from agentfab.worlds.core import CANONICAL_OPTIONS, canonical_bytes, canonical_json

    def before(v):
        try:
            return orjson.dumps(v, option=CANONICAL_OPTIONS).decode()
        except TypeError:
            return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

    for v in (value, {"k": value, "n": other_keys}, [other_keys, value], {"big": 2 ** 70, "v": value}):
        assert canonical_json(v) == before(v)
        assert canonical_bytes(v) == before(v).encode()
    try:
        orjson.dumps(other_keys, option=orjson.OPT_SORT_KEYS)
        raise AssertionError("the fast path writes a key that is not a str")
    except TypeError:
        pass
