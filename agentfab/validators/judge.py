"""Judges score a trajectory 1..5 with a rationale. The rule-based judge runs offline; an LLM judge implements the
same `Judge` protocol, so a recipe switches engines without touching the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from agentfab.schemas.tasks import Task

Event = dict[str, Any]


@dataclass(frozen=True)
class Judgement:
    score: float
    rationale: str


class Judge(Protocol):
    name: str

    def judge(self, task: Task, content: list[Event]) -> Judgement: ...


class RuleJudge:
    """Deducts points for what a reviewer would mark down: silent calls, wasted calls, flailing, bad replies."""

    name = "rules"

    def judge(self, task: Task, content: list[Event]) -> Judgement:
        score = 5.0
        notes: list[str] = []
        calls = [i for i, e in enumerate(content) if e.get("class_") == "api_action"]
        groups = [i for i in calls if i == 0 or content[i - 1].get("class_") != "api_action"]
        silent = [i for i in groups if not (content[i].get("description") or "").strip()]
        if silent:
            score -= 1
            notes.append(f"{len(silent)} call group(s) without reasoning")
        errors = sum(1 for e in content if e.get("source") == "environment" and '"error":' in (e.get("content") or ""))
        if errors > 1:
            score -= min(2, errors - 1)
            notes.append(f"{errors} failed calls")
        extra = len(calls) - len(task.plan) - errors
        if extra > 0:
            score -= min(2, extra)
            notes.append(f"{extra} call(s) beyond the plan")
        replies = [e.get("content") or "" for e in content if e.get("class_") == "message_action"]
        if not replies or any(len(r.strip()) < 10 for r in replies):
            score -= 2
            notes.append("a reply is empty or too short to be useful")
        elif any(len(r) > 4000 for r in replies):
            score -= 1
            notes.append("a reply is over 4000 characters")
        score = max(1.0, score)
        return Judgement(score, "; ".join(notes) if notes else "clear reasoning, no wasted calls, complete replies")
