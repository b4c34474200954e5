"""A negative control for every reason code no perturbation names: each check is shown a trajectory it must reject,
with everything else about the trajectory left honest (results really executed), and the judge and the
near-duplicate filter are shown what they must mark down."""

from __future__ import annotations

import copy
import random

import pytest

from agentfab.generators.queries import to_task
from agentfab.generators.rollouts import OracleAgent
from agentfab.generators.tasks import Composer
from agentfab.schemas.codes import Reason
from agentfab.validators.dedup import Deduper, exact_key
from agentfab.validators.judge import RuleJudge
from agentfab.validators.structure import check_events
from agentfab.validators.verify import verify
from agentfab.worlds.core import canonical_json, is_error
from agentfab.worlds.registry import builtin_domain

KINDS = ["single", "parallel", "chain", "multi_turn", "clarify", "irrelevant"]


@pytest.fixture(scope="module")
def bank():
    domain = builtin_domain("bank")
    store = domain.seeded(5)
    comp = Composer(domain, store, 5)
    agent = OracleAgent(domain, store)
    rng = random.Random(5)
    out = []
    for i in range(60):
        kind = KINDS[i % len(KINDS)]
        plan = None if kind == "irrelevant" else comp.compose(kind, rng)
        if plan is None and kind != "irrelevant":
            continue
        task = to_task(plan, domain, rng, task_id=f"t{i}", kind=kind, distractors=2,
                       foreign_request="book me a haircut for Friday")
        out.append((task, agent.roll_out(task, rng).content))
    return domain, store, out


def check(bank, task, content, min_score=3.0):
    domain, store, _ = bank
    return verify(task, content, {n: domain.tool(n) for n in task.tools}, store, RuleJudge(), min_score)


def of_kind(bank, kind):
    found = [(t, c) for t, c in bank[2] if t.kind == kind]
    assert found, f"no {kind} task composed"
    return found


def calls_of(content):
    return [i for i, e in enumerate(content) if e["class_"] == "api_action"]


def result_of(content, call_index):
    cid = content[call_index]["tool_call_id"]
    return next(i for i, e in enumerate(content) if e.get("source") == "environment" and e.get("tool_call_id") == cid)


def test_every_oracle_trajectory_passes_so_each_failure_below_is_the_perturbation(bank):
    for task, content in bank[2]:
        assert check(bank, task, content).passed, (task.kind, check(bank, task, content).details)


def test_an_event_adp_does_not_define_is_invalid(bank):
    task, content = of_kind(bank, "single")[0]
    bogus = content[:1] + [{"class_": "thought_action", "content": "hmm"}] + content[1:]
    assert Reason.INVALID_EVENT in check(bank, task, bogus).reasons
    listed = copy.deepcopy(content)
    listed[calls_of(listed)[0]]["kwargs"] = ["not", "an", "object"]
    assert Reason.INVALID_EVENT in check(bank, task, listed).reasons
    assert check_events([]) == [(Reason.INVALID_EVENT, "the trajectory has no events")]


def test_a_failed_call_never_retried_is_an_unrecovered_error(bank):
    domain, store, _ = bank
    caught = 0
    for task, content in of_kind(bank, "single"):
        broken = copy.deepcopy(content)
        i = calls_of(broken)[0]
        kwargs = {k: ("NO-SUCH-ID" if isinstance(v, str) else v) for k, v in broken[i]["kwargs"].items()}
        value = domain.tool(broken[i]["function"]).invoke(store.fork(), kwargs)
        if not is_error(value):
            continue
        broken[i]["kwargs"] = kwargs
        broken[result_of(broken, i)]["content"] = canonical_json(value)  # the real error: replay agrees
        v = check(bank, task, broken)
        assert Reason.ERROR_UNRECOVERED in v.reasons and Reason.OBSERVATION_MISMATCH not in v.reasons, v.details
        caught += 1
    assert caught >= 2


def test_acting_on_a_missing_value_without_asking_is_caught(bank):
    for task, content in of_kind(bank, "clarify"):
        answer = [i for i, e in enumerate(content) if e.get("source") == "user"][1]
        assert content[answer - 1]["class_"] == "message_action"  # the question, after any earlier steps' calls
        unasked = content[:answer - 1] + content[answer + 1:]  # no question, no answer: the agent guessed the value
        assert {Reason.NO_CLARIFICATION, Reason.GUESSED_VALUE} <= set(check(bank, task, unasked).reasons)


def test_two_calls_sharing_an_id_are_caught(bank):
    task, content = next((t, c) for t, c in of_kind(bank, "parallel") if len(calls_of(c)) >= 2)
    first, second = calls_of(content)[:2]
    shared = copy.deepcopy(content)
    shared[second]["tool_call_id"] = shared[first]["tool_call_id"]
    assert Reason.DUPLICATE_CALL_ID in check(bank, task, shared).reasons


def test_a_trajectory_that_stops_without_a_reply_is_caught(bank):
    for task, content in bank[2][:10]:
        assert content[-1]["class_"] == "message_action"
        assert Reason.NO_FINAL_ANSWER in check(bank, task, content[:-1]).reasons


def test_the_same_successful_call_twice_is_caught(bank):
    domain = bank[0]
    caught = 0
    for task, content in bank[2]:
        calls = [i for i in calls_of(content) if not domain.tool(content[i]["function"]).spec.mutates]
        if not calls:
            continue
        i = calls[0]
        j = result_of(content, i)
        again = [dict(content[i], tool_call_id="call_again"), dict(content[j], tool_call_id="call_again")]
        repeated = content[:j + 1] + again + content[j + 1:]
        assert check_events(repeated) == []  # structurally fine: only the rule can tell
        assert Reason.REPEATED_CALL in check(bank, task, repeated).reasons
        caught += 1
    assert caught >= 5


def test_a_score_below_the_recipes_minimum_is_rejected_by_the_judge(bank):
    task, content = of_kind(bank, "single")[0]
    assert check(bank, task, content, min_score=5.0).passed  # the oracle's trajectory earns the top score
    silent = [{k: v for k, v in e.items() if k != "description"} if e["class_"] == "api_action" else e
              for e in content]
    v = check(bank, task, silent, min_score=5.0)
    assert v.reasons == [Reason.LOW_SCORE] and v.judgement.score < 5.0
    assert check(bank, task, silent, min_score=v.judgement.score).passed


def test_the_judge_marks_down_silent_calls_failed_calls_and_useless_replies(bank):
    domain, store, _ = bank
    judge = RuleJudge()
    task, content = next((t, c) for t, c in of_kind(bank, "single"))
    clean = judge.judge(task, content).score
    assert clean == 5.0
    silent = [{k: v for k, v in e.items() if k != "description"} for e in content]
    terse = content[:-1] + [dict(content[-1], content="ok")]
    i = calls_of(content)[0]
    fail = {"class_": "text_observation", "source": "environment",
            "content": canonical_json({"error": {"type": "not_found", "message": "x"}})}
    flailing = content[:i] + [dict(content[i], tool_call_id=f"e{n}") for n in range(3)] + \
        [dict(fail, tool_call_id=f"e{n}") for n in range(3)] + content[i:]
    for worse in (silent, terse, flailing):
        judged = judge.judge(task, worse)
        assert 1.0 <= judged.score < clean and judged.rationale
    assert judge.judge(task, terse).score <= judge.judge(task, silent).score  # a useless reply costs most
    hopeless = [{k: v for k, v in e.items() if k != "description"} for e in flailing[:-1]] + [dict(content[-1],
                                                                                                content="")]
    assert judge.judge(task, hopeless).score == 1.0  # never below the scale


def test_near_duplicates_are_caught_and_different_tasks_are_not(bank):
    with_calls = [(t, c) for t, c in bank[2] if t.plan]
    (a, ca), (b, cb) = with_calls[0], with_calls[1]
    dedup = Deduper(near_threshold=0.9)
    assert dedup.check(a, ca) is None
    assert dedup.check(b, cb) is None  # another plan: neither exact nor near
    reworded = a.model_copy(update={"user_turns": [a.user_turns[0].model_copy(update={"text": "Reworded: " +
                                                                                       a.user_turns[0].text})]
                                    + a.user_turns[1:]})
    rc = [dict(e, content="Reworded: " + e["content"]) if e is ca[0] else e for e in ca]
    assert exact_key(reworded, rc) != exact_key(a, ca)
    code, detail = dedup.check(reworded, rc)
    assert code == Reason.NEAR_DUPLICATE and "Jaccard 1.00" in detail
    assert dedup.check(a, ca)[0] == Reason.EXACT_DUPLICATE
    assert Deduper(near_threshold=1.0).check(a, ca) is None  # 1.0 turns near-duplicate detection off
    off = Deduper(near_threshold=1.0)
    off.check(a, ca)
    assert off.check(reworded, rc) is None


def test_call_free_requests_are_near_duplicates_by_their_words(bank):
    refusals = [t for t, _ in bank[2] if not t.plan]
    assert refusals
    task = refusals[0]
    dedup = Deduper(near_threshold=0.5)
    assert dedup.check(task, [{"source": "user", "content": task.user_turns[0].text}]) is None
    louder = task.model_copy(update={"user_turns": [task.user_turns[0].model_copy(
        update={"text": task.user_turns[0].text + " please"})]})
    assert dedup.check(louder, [{"source": "user", "content": louder.user_turns[0].text}])[0] == \
        Reason.NEAR_DUPLICATE
