"""The LLM judge: rubric scores with a rationale (helpfulness, grounding, efficiency, tone) behind the same `Judge`
protocol as the rule judge (`name`, `judge(task, content) -> judgement with .score and .rationale`).

The rule judge runs beside it and its score is kept in the judgement, so a row has both. When the model's answers
never validate, or its endpoint fails for good, the judgement carries a reason code and the rule judge's score.
In a build the shard's event loop awaits `grade` on the shard's client; `judge` (the protocol's synchronous call)
opens its own client for callers that have no event loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agentfab.llm.cache import RequestCache
from agentfab.llm.client import LLMError, RoleClient, run_async
from agentfab.llm.prompts import prompt
from agentfab.llm.settings import RoleSettings
from agentfab.llm.structured import AnswerRejected, ask
from agentfab.llm.usage import RoleUsage
from agentfab.schemas.codes import Reason
from agentfab.schemas.tasks import Task

Event = dict[str, Any]
CRITERIA = ("helpfulness", "grounding", "efficiency", "tone")


class RubricAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    helpfulness: int = Field(ge=1, le=5)
    grounding: int = Field(ge=1, le=5)
    efficiency: int = Field(ge=1, le=5)
    tone: int = Field(ge=1, le=5)
    rationale: str = Field(min_length=1, max_length=2000)

    @property
    def score(self) -> float:
        return sum(getattr(self, c) for c in CRITERIA) / len(CRITERIA)


class ScoreJudge(Protocol):
    """What the rule judge offers (validators.judge.Judge), named here so this layer need not import validators."""

    name: str

    def judge(self, task: Task, content: list[Event]) -> Any: ...


@dataclass(frozen=True)
class RubricJudgement:
    """The protocol's `score` and `rationale`, plus the rubric and the rule judge's score. With `code` set (the
    model gave no usable rubric) `score` is the rule judge's and `rubric` is empty."""

    score: float
    rationale: str
    rubric: dict[str, int] = field(default_factory=dict)
    rule_score: float | None = None
    code: str | None = None


def transcript(content: list[Event]) -> str:
    lines = []
    for ev in content:
        cls = ev.get("class_")
        if cls == "api_action":
            lines.append(f"ASSISTANT CALLS {ev.get('function')}({json.dumps(ev.get('kwargs'), sort_keys=True)})")
        elif cls == "message_action":
            lines.append(f"ASSISTANT: {ev.get('content')}")
        elif ev.get("source") == "environment":
            lines.append(f"TOOL {ev.get('name')}: {ev.get('content')}")
        else:
            lines.append(f"USER: {ev.get('content')}")
    return "\n".join(lines)


class LLMJudge:
    """`models.judge` scoring a rubric; `rule` (the rule judge) is scored beside it and kept."""

    name = "llm"

    def __init__(self, settings: RoleSettings, rule: ScoreJudge | None = None, cache: RequestCache | None = None,
                 usage: RoleUsage | None = None):
        self.settings = settings
        self.rule = rule
        self.cache = cache if cache is not None else RequestCache(None)
        self.usage = usage if usage is not None else RoleUsage()

    async def grade(self, task: Task, content: list[Event], client: RoleClient) -> RubricJudgement:
        rule = self.rule.judge(task, content) if self.rule is not None else None
        rule_score = None if rule is None else float(rule.score)
        messages = [{"role": "system", "content": prompt("judge").text},
                    {"role": "user", "content": transcript(content)}]
        try:
            answer, _ = await ask(client, messages, RubricAnswer)
        except AnswerRejected as exc:
            return self._fallback(rule, Reason.JUDGE_INVALID_ANSWER, f"{exc.code}: {exc.error}")
        except LLMError as exc:
            if exc.fatal:
                raise
            return self._fallback(rule, Reason.LLM_JUDGE_FAILED, str(exc))
        rubric = {c: getattr(answer, c) for c in CRITERIA}
        text = ", ".join(f"{c} {n}" for c, n in rubric.items()) + f": {answer.rationale}"
        if rule is not None:
            text += f" | rule judge {rule.score:g}: {rule.rationale}"
        return RubricJudgement(answer.score, text, rubric, rule_score)

    @staticmethod
    def _fallback(rule: Any, code: str, why: str) -> RubricJudgement:
        if rule is None:
            return RubricJudgement(0.0, why, code=code)
        return RubricJudgement(float(rule.score), f"{why} | rule judge {rule.score:g}: {rule.rationale}",
                               rule_score=float(rule.score), code=code)

    def judge(self, task: Task, content: list[Event]) -> RubricJudgement:
        """The `Judge` protocol's call, for a caller without a running event loop: one request on its own client."""

        async def once() -> RubricJudgement:
            client = RoleClient("judge", self.settings, self.cache, self.usage)
            try:
                return await self.grade(task, content, client)
            finally:
                await client.close()

        return run_async(once())


@dataclass(frozen=True)
class Judged:
    """A judgement already made (awaited on the shard's loop), handed to the judge stage through the protocol."""

    judgement: RubricJudgement
    name: str = "llm"

    def judge(self, task: Task, content: list[Event]) -> RubricJudgement:
        return self.judgement
