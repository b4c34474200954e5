"""A yes/no fact is stated by its predicate ("is not active", "does not have a pool"), read from the field's
description, not by a bare "yes" or "no": a reader flagged "And yes, the membership is active." after a record's
details (151 of 2,894 quickstart rows), as if it answered a question nobody asked, and "no" was any reply's word
("there are no tenants"), so a reply could leave the fact out and still pass."""

from __future__ import annotations

import random

import pytest

from agentfab.flows.worlds import synthesized_domains
from agentfab.generators.negatives import make_negative
from agentfab.generators.queries import to_task
from agentfab.generators.rollouts import OracleAgent
from agentfab.generators.tasks import Composer
from agentfab.generators.value_bank import ValueBank
from agentfab.schemas.answers import normalize
from agentfab.schemas.codes import Reason
from agentfab.schemas.rows import returns_of
from agentfab.schemas.tasks import described_by, required_facts
from agentfab.schemas.wording import yes_no_predicate
from agentfab.validators.judge import RuleJudge
from agentfab.validators.verify import verify

_DOMAINS = {d.name: d for d in synthesized_domains(30, 7)}


def _flagged_tasks(name: str, n: int = 160):
    """Tasks of a domain with a yes/no fact among their turns' facts, each with its oracle trajectory."""
    domain = _DOMAINS[name]
    store = domain.seeded(3)
    composer, agent, rng = Composer(domain, store, 3), OracleAgent(domain, store), random.Random(3)
    out = []
    for i in range(n):
        kind = ("single", "chain", "multi_turn")[i % 3]
        plan = composer.compose(kind, rng)
        if plan is None:
            continue
        task = to_task(plan, domain, rng, task_id=f"t{i}", kind=kind, distractors=2)
        flags = [(f, task.results[f.step][f.field]) for t in task.user_turns for f in t.facts
                 if type(task.results[f.step].get(f.field)) is bool]
        if flags:
            out.append((domain, store, agent, task, agent.roll_out(task, rng).content, flags))
    return out


@pytest.fixture(scope="module")
def flagged():
    found = _flagged_tasks("gym") + _flagged_tasks("university")
    assert len(found) >= 8, len(found)
    return found


def _verify(domain, store, task, content):
    return verify(task, content, {n: domain.tool(n) for n in task.tools}, store, RuleJudge(), 3)


def test_a_yes_no_fact_is_its_predicate_and_the_oracle_says_it_as_a_sentence(flagged):
    for domain, store, _, task, content, flags in flagged:
        for fact, value in flags:
            described = domain.tool(next(s.tool for s in task.plan if s.id == fact.step)).spec.returns[
                "properties"][fact.field].get("description", "")
            assert fact.values == [normalize(yes_no_predicate(described, fact.field, value))], fact
            assert fact.values[0] not in ("yes", "no") and " " in fact.values[0], fact
        replies = " ".join(e["content"] for e in content if e["class_"] == "message_action")
        assert "And yes, " not in replies and "And no, " not in replies, replies
        assert _verify(domain, store, task, content).passed, task.id


def test_a_reply_that_states_the_opposite_or_only_a_stray_no_fails(flagged):
    caught = 0
    for domain, store, _, task, content, flags in flagged:
        fact, value = flags[0]
        step_tool = next(s.tool for s in task.plan if s.id == fact.step)
        described = domain.tool(step_tool).spec.returns["properties"][fact.field].get("description", "")
        said, opposite = (yes_no_predicate(described, fact.field, b) for b in (value, not value))
        i = max(k for k, e in enumerate(content) if e["class_"] == "message_action" and said in e["content"])
        for text in (content[i]["content"].replace(said, opposite),  # the other answer
                     content[i]["content"].replace(said, "is as before") + " There are no other changes."):
            broken = [*content[:i], {**content[i], "content": text}, *content[i + 1:]]
            v = _verify(domain, store, task, broken)
            assert not v.passed and ({Reason.WRONG_ANSWER, Reason.INCOMPLETE_ANSWER} & set(v.reasons)), v.details
            caught += 1
    assert caught >= 16


def test_an_invented_answer_flips_a_yes_no_predicate_and_is_caught(flagged):
    flipped = 0
    for domain, store, agent, task, content, flags in flagged:
        for seed in range(12):
            made = make_negative(task, content, agent, random.Random(seed), only="invented_answer", bank=ValueBank())
            if made is None:
                continue
            before = {e["content"] for e in content if e["class_"] == "message_action"}
            changed = [e["content"] for e in made[1] if e["class_"] == "message_action" and e["content"] not in before]
            fact, value = flags[0]
            step_tool = next(s.tool for s in task.plan if s.id == fact.step)
            described = domain.tool(step_tool).spec.returns["properties"][fact.field].get("description", "")
            if changed and yes_no_predicate(described, fact.field, not value) in changed[0]:
                v = _verify(domain, store, task, made[1])
                assert Reason.WRONG_ANSWER in v.reasons, v.details
                flipped += 1
                break
    assert flipped >= 2, flipped


def test_a_rows_facts_read_the_predicate_from_the_rows_own_tools(flagged):
    """The manifest's asked-facts figure and revalidation read a written row, not the task: the row's tools carry
    the descriptions the predicates are made from."""
    import json

    domain, _, _, task, _, flags = flagged[0]
    tools = [{"name": n, "returns": json.dumps(domain.tool(n).spec.returns)} for n in task.tools]
    described = described_by(task.plan, returns_of(tools))
    for t, turn in enumerate(task.user_turns):
        assert required_facts(task.plan, task.results, t, described) == turn.facts
