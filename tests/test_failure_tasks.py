"""Failure tasks: a write breaks a real business rule; the oracle takes the user's alternative or says plainly what
failed and why, and ground truth knows which."""

from __future__ import annotations

import random
import re

import pytest

from agentfab.generators.queries import to_task
from agentfab.generators.failures import cause_reason
from agentfab.generators.rollouts import OracleAgent, message
from agentfab.generators.tasks import Composer
from agentfab.validators.judge import RuleJudge
from agentfab.validators.verify import verify
from agentfab.worlds.core import RULE_ERRORS, canonical_json, is_error
from agentfab.worlds.registry import builtin_domain


def failure_tasks(world: str, seed: int, n: int = 12):
    domain = builtin_domain(world)
    store = domain.seeded(seed).with_offset(123)
    composer, agent = Composer(domain, store, seed), OracleAgent(domain, store)
    rng = random.Random(seed)
    out = []
    for i in range(n * 3):
        plan = composer.compose("failure", rng)
        if plan is None:
            continue
        task = to_task(plan, domain, rng, task_id=f"f{i}", kind="failure", distractors=2)
        out.append((domain, store, task, agent.roll_out(task, rng).content))
        if len(out) == n:
            break
    return out


def _verify(domain, store, task, content):
    return verify(task, content, {n: domain.tool(n) for n in task.tools}, store, RuleJudge(), 3)


@pytest.mark.parametrize("world", ["bank", "shop", "travel", "calendar", "library"])
def test_the_oracle_meets_a_real_rule_and_passes_every_check(world):
    tasks = failure_tasks(world, 3)
    assert len(tasks) >= 8
    for domain, store, task, content in tasks:
        first = task.plan[0]
        assert first.expect_error in RULE_ERRORS and is_error(task.results[first.id])
        assert task.failure_outcome == ("alternative" if len(task.plan) == 2 else "report")
        v = _verify(domain, store, task, content)
        assert v.passed, v.details
        reply = content[-1]["content"]
        error = task.results[first.id]["error"]["message"]  # what failed and why, plainly (the record it
        assert cause_reason(error) in reply  # names is said once: "freeze account ACC-1006: the account is ...")
        if task.failure_outcome == "report":
            assert task.state_diff == {}
        else:
            assert task.state_diff and any(w in task.user_turns[0].text for w in ("instead", "fail"))


def test_both_outcomes_occur():
    outcomes = {t.failure_outcome for world in ("bank", "shop", "travel") for _, _, t, _ in failure_tasks(world, 5)}
    assert outcomes == {"alternative", "report"}


def test_claiming_success_or_skipping_the_attempt_is_caught():
    for domain, store, task, content in failure_tasks("bank", 4) + failure_tasks("shop", 4):
        boast = [*content[:-1], message("Done, all taken care of!")]
        assert "truth.wrong_answer" in _verify(domain, store, task, boast).reasons
        first_call = next(i for i, e in enumerate(content) if e["class_"] == "api_action")
        skipped = content[:1] + content[first_call + 2:]  # drop the attempt that met the rule, keep the rest
        if task.failure_outcome == "alternative":
            assert "truth.missing_call" in _verify(domain, store, task, skipped).reasons


def test_an_unexpected_failure_is_still_unrecovered():
    """Negative control: the exemption covers only the planned attempt, not any failed call."""
    domain, store, task, content = next(t for t in failure_tasks("bank", 6) if t[2].failure_outcome == "report")
    plain = task.model_copy(update={"plan": [s.model_copy(update={"expect_error": None}) for s in task.plan],
                                    "failure_outcome": None})
    assert "exec.error_unrecovered" in _verify(domain, store, plain, content).reasons


@pytest.mark.parametrize("world", ["bank", "shop", "library"])
def test_the_thought_after_a_refused_call_names_its_cause_and_never_claims_success(world):
    """A reader flagged 'The calls succeeded; I'll confirm that to the user.' right after a refused call."""
    for _, _, task, content in failure_tasks(world, 7):
        cause = task.results[task.plan[0].id]["error"]["message"].rstrip(".")
        thoughts = [e.get("description") or "" for e in content if e["class_"] in ("message_action", "api_action")]
        assert not any("succeeded" in t for t in thoughts)
        assert any(cause in t for t in thoughts), thoughts
        if task.failure_outcome == "report":
            assert cause in content[-1]["description"]


def test_a_typo_is_only_ever_an_id_that_does_not_exist():
    """A slip that reaches another real record (refused by a rule, or worse, changed) is not a harmless typo."""
    domain = builtin_domain("library")
    store = domain.seeded(2)
    composer, agent = Composer(domain, store, 2), OracleAgent(domain, store, recovery=1.0)
    rng = random.Random(2)
    errors = []
    for i in range(60):
        plan = composer.compose(("single", "chain", "failure")[i % 3], rng)
        if plan is None:
            continue
        kind = ("single", "chain", "failure")[i % 3]
        task = to_task(plan, domain, rng, task_id=f"t{i}", kind=kind, distractors=2)
        planned = {canonical_json(task.results[s.id]) for s in task.plan if s.expect_error}
        content = agent.roll_out(task, rng).content
        errors += [e["content"] for e in content if e["class_"] == "text_observation"
                   and e["source"] == "environment" and '"error"' in e["content"] and e["content"] not in planned]
    assert errors
    assert all('"type":"not_found"' in text.replace(" ", "") for text in errors), errors[:3]


def test_a_thank_you_closes_the_whole_request_not_its_first_sentence():
    """'Please remove trainer TRN-026. Thank you! Should that fail, delete TRN-031.' read as if the user thanked
    mid-request: the fallback goes before the thanks."""
    from agentfab.generators.queries import add_sentence

    assert add_sentence("Could you remove TRN-026? Thanks.", "Should that fail, delete TRN-031.") == \
        "Could you remove TRN-026? Should that fail, delete TRN-031. Thanks."
    assert add_sentence("Remove TRN-026, thanks.", "Also, print it.") == "Remove TRN-026, thanks. Also, print it."
    thanked = 0
    for world in ("bank", "shop", "travel", "calendar", "library"):
        for seed in (1, 2, 3, 4):
            for _, _, task, _ in failure_tasks(world, seed):
                text = task.user_turns[0].text
                assert not re.search(r"(Thank you!|Thanks\.) \S", text), text
                thanked += bool(re.search(r"(Thank you!|Thanks\.)$", text)) and " " in text.rstrip(".!?")
    assert thanked >= 3, thanked
