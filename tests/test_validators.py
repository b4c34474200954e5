"""Every validator has a negative control: each deliberate perturbation is caught by its own reason code, a
do-nothing agent fails every task that needs a call, and the unperturbed oracle passes."""

from __future__ import annotations

import random

import pytest

from agentfab.generators.negatives import EXPECTED_CODE, NEGATIVES, make_negative
from agentfab.generators.queries import to_task
from agentfab.generators.rollouts import OracleAgent, message, user
from agentfab.generators.tasks import Composer
from agentfab.generators.value_bank import ValueBank
from agentfab.validators.judge import RuleJudge
from agentfab.validators.structure import check_events
from agentfab.validators.verify import verify
from agentfab.worlds.registry import BUILTIN, builtin_domain

KINDS = ["single", "parallel", "chain", "compound", "multi_turn", "irrelevant", "clarify"]


def tasks_for(world: str, n: int, seed: int = 3):
    domain = builtin_domain(world)
    store = domain.seeded(seed)
    comp = Composer(domain, store, seed)
    agent = OracleAgent(domain, store, recovery=0.3)
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        plan = None if kind == "irrelevant" else comp.compose(kind, rng)
        if plan is None and kind != "irrelevant":
            continue
        task = to_task(plan, domain, rng, task_id=f"t{i}", kind=kind, distractors=3,
                       foreign_request="translate 'hello' into French")
        out.append((domain, store, agent, task, agent.roll_out(task, rng)))
    return out


@pytest.fixture(scope="module", params=BUILTIN)
def world_tasks(request):
    return tasks_for(request.param, 42)


def _verify(domain, store, task, content):
    offered = {n: domain.tool(n) for n in task.tools}
    return verify(task, content, offered, store, RuleJudge(), 3)


def test_the_oracle_passes_every_check(world_tasks):
    """Every hard check passes; only the judge may mark down an oracle that flailed (3 failed attempts)."""
    for domain, store, _, task, rollout in world_tasks:
        v = _verify(domain, store, task, rollout.content)
        if rollout.n_errors >= 3:
            assert v.reasons in ([], ["judge.low_score"]), (task.kind, v.details)
        else:
            assert v.passed, (task.kind, v.details)


def test_every_kind_is_generated(world_tasks):
    assert {t.kind for *_, t, _ in world_tasks} == set(KINDS)


@pytest.mark.parametrize("name", NEGATIVES)
def test_each_negative_is_caught_by_its_expected_code(world_tasks, name):
    applied = 0
    rng = random.Random(7)
    bank = ValueBank()  # what the shard has accepted: the real values wrong ones are drawn from
    for *_, rollout in world_tasks:
        bank.observe(rollout.content)
    for domain, store, agent, task, rollout in world_tasks:
        made = make_negative(task, rollout.content, agent, rng, only=name, bank=bank)
        if made is None:
            continue
        applied += 1
        v = _verify(domain, store, task, made[1])
        assert not v.passed
        assert EXPECTED_CODE[name] in v.reasons, (task.kind, v.details)
    if name not in ("ignored_refusal", "wrong_tool"):
        assert applied >= 3, f"{name} applied to only {applied} tasks"


def test_a_do_nothing_agent_fails_every_task_that_needs_a_call(world_tasks):
    for domain, store, _, task, _ in world_tasks:
        content = [user(task.user_turns[0].text), message("Done, all taken care of!")]
        v = _verify(domain, store, task, content)
        if task.expect_refusal:
            assert "truth.no_refusal" in v.reasons
        else:
            assert not v.passed and ("truth.missing_call" in v.reasons), v.reasons


def test_tool_results_must_answer_exactly_one_earlier_call():
    base = [user("hi"), {"class_": "api_action", "function": "f", "kwargs": {}, "tool_call_id": "c1"}]
    ok = base + [{"class_": "text_observation", "source": "environment", "content": "{}", "tool_call_id": "c1"},
                 message("here you go, all done")]
    assert check_events(ok) == []
    orphan = base + [{"class_": "text_observation", "source": "environment", "content": "{}", "tool_call_id": "c9"},
                     message("here you go, all done")]
    codes = {c for c, _ in check_events(orphan)}
    assert {"rule.orphan_result", "rule.unanswered_call", "rule.turn_order"} <= codes
    twice = ok[:3] + [dict(ok[2])] + ok[3:]
    assert "rule.orphan_result" in {c for c, _ in check_events(twice)}
    as_user = base + [{"class_": "text_observation", "source": "user", "content": "{}", "tool_call_id": "c1"}]
    assert "rule.role_confusion" in {c for c, _ in check_events(as_user)}
    no_id = base[:1] + [{"class_": "text_observation", "source": "environment", "content": "{}"}, message("done ok")]
    assert "rule.role_confusion" in {c for c, _ in check_events(no_id)}
