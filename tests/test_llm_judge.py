"""The LLM judge behind the `Judge` protocol, against the loopback server: the judge stage (`apply_judge`) takes it
exactly as it takes the rule judge; it gives rubric scores with a rationale, the threshold rejects a low score
with `judge.low_score`, the rule judge's score is kept beside the model's, and answers that never validate end in
a reason code with the rule judge's score."""

from __future__ import annotations

import random

import pytest

from agentfab.generators.queries import to_task
from agentfab.generators.rollouts import OracleAgent
from agentfab.generators.tasks import Composer
from agentfab.llm.judge import CRITERIA, LLMJudge
from agentfab.llm.loopback import Fault, LoopbackServer, ScriptedModel
from agentfab.llm.settings import RoleSettings
from agentfab.schemas.codes import Reason
from agentfab.validators.judge import Judge, RuleJudge
from agentfab.validators.verify import Verdict, apply_judge
from agentfab.worlds.registry import builtin_domain


@pytest.fixture(scope="module")
def trajectory():
    """A real task of the bank world and the oracle's trajectory for it."""
    domain = builtin_domain("bank")
    store = domain.seeded(3)
    rng = random.Random(5)
    plan = Composer(domain, store, 3).compose("single", rng)
    task = to_task(plan, domain, rng, task_id="judge-1", kind="single", distractors=1)
    return task, OracleAgent(domain, store).roll_out(task, rng).content


def judge_for(server: LoopbackServer, **over) -> Judge:
    settings = RoleSettings.model_validate({"base_url": server.base_url, "model": "judge-m", "max_repairs": 1} | over)
    return LLMJudge(settings, RuleJudge())


def judged(judge: Judge, trajectory, min_score: float = 3) -> Verdict:
    v = Verdict()
    apply_judge(v, *trajectory, judge, min_score)
    return v


def test_the_llm_judge_takes_the_rule_judges_place_and_keeps_both_scores(trajectory):
    rule = RuleJudge().judge(*trajectory)
    with LoopbackServer(ScriptedModel(judge_score=4)) as server:
        v = judged(judge_for(server), trajectory)
        assert len(server.log) == 1 and server.log[0]["model"] == "judge-m"
        assert "response_format" in server.log[0] and "ASSISTANT CALLS" in server.log[0]["messages"][1]["content"]
    j = v.judgement
    assert v.passed and v.stages == ["judge"] and j.score == 4 and j.code is None
    assert j.rubric == {c: 4 for c in CRITERIA} and "helpfulness 4" in j.rationale
    assert j.rule_score == rule.score and f"rule judge {rule.score:g}" in j.rationale


def test_a_score_under_the_threshold_is_rejected_with_judge_low_score(trajectory):
    with LoopbackServer(ScriptedModel(judge_score=2)) as server:
        v = judged(judge_for(server), trajectory, min_score=3)
    assert not v.passed and v.reasons == [Reason.LOW_SCORE] and v.judgement.score == 2
    with LoopbackServer(ScriptedModel(judge_score=2)) as server:  # the threshold is the recipe's, not the judge's
        assert judged(judge_for(server), trajectory, min_score=2).passed


def test_a_judge_whose_answers_never_validate_gives_a_code_and_the_rule_score(trajectory):
    rule = RuleJudge().judge(*trajectory)
    with LoopbackServer(ScriptedModel()) as server:
        # one answer out of range, then one that is not JSON: repaired once, then refused
        server.faults.extend([Fault("text", text='{"helpfulness": 9, "grounding": 5, "efficiency": 5, "tone": 5, '
                                            '"rationale": "x"}'), Fault("text", text="great job")])
        v = judged(judge_for(server), trajectory)
        assert len(server.log) == 2 and "helpfulness" in server.log[1]["messages"][-1]["content"]
    assert not v.passed and v.reasons == [Reason.JUDGE_INVALID_ANSWER]
    assert v.judgement.score == rule.score and v.judgement.rubric == {}


def test_a_failed_judge_endpoint_is_a_code_not_a_crash(trajectory):
    with LoopbackServer(ScriptedModel()) as server:
        judge = judge_for(server, max_retries=1)
        assert judged(judge, trajectory).passed
        assert judged(judge, trajectory).passed and len(server.log) == 1  # the same request: from the cache
        server.faults.extend([Fault("500")] * 2)  # an endpoint that answered before and now fails for good
        task, content = trajectory
        v = judged(judge, (task, content + [{"class_": "message_action", "content": "Anything else?"}]))
    assert not v.passed and v.reasons == [Reason.LLM_JUDGE_FAILED] and "HTTP 500" in v.judgement.rationale
