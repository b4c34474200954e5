"""The validation funnel for one trajectory: schema -> execution -> ground truth -> rules -> judge.
Dedup runs afterwards over the rows that passed, in row order (see `Deduper`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from agentfab.schemas.codes import STAGES, Reason, stage_of
from agentfab.schemas.tasks import Task
from agentfab.validators.judge import Judge, Judgement, RuleJudge
from agentfab.validators.language import check_language
from agentfab.validators.reading import Reading, reading_of
from agentfab.validators.replay import check_rules, expected_errors, replay, truth
from agentfab.validators.structure import check_calls
from agentfab.worlds.core import Store, Tool


@dataclass
class Verdict:
    reasons: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    judgement: Judgement = Judgement(0.0, "not judged")
    stages: list[str] = field(default_factory=list)
    facts: tuple[int, int] | None = None  # (asked, stated) fact values, counted by the ground-truth check

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def stage(self) -> str | None:
        """The first stage that rejected the row (funnel position), or None when accepted."""
        failed = {stage_of(c) for c in self.reasons}
        return next((s for s in STAGES if s in failed), None)

    def add(self, failures: list[tuple[str, str]]) -> None:
        for code, detail in failures:
            if code not in self.reasons:
                self.reasons.append(code)
            self.details.append(f"{code}: {detail}")


def check(
    task: Task,
    content: list[dict[str, Any]],
    offered: Mapping[str, Tool],
    store: Store,
    reading: Reading | None = None,
) -> Verdict:
    """Schema, execution, ground truth and rules (later stages too, so a rejected row carries all its problems).
    `reading`: the record's reading of `content`, shared with the judge and dedup (one is made when None)."""
    read = reading_of(content, reading)
    v = Verdict(stages=["schema", "exec", "truth", "rule"])  # every stage runs: a row carries all its problems
    found = [read.event_failures, check_calls(content, offered, read.call_keys)]
    rep = replay(content, offered, store, expected_errors(task, read.plan_arguments(task)), read)
    found.append(rep.failures)
    failures, v.facts = truth(task, content, rep, read)
    found += [failures, check_rules(task, rep), check_language(content, offered, read)]
    for failed in found:
        if failed:  # most stages find nothing
            v.add(failed)
    return v


def apply_judge(v: Verdict, task: Task, content: list[dict[str, Any]], judge: Judge, min_score: float,
                reading: Reading | None = None) -> None:
    """The judge stage: score the trajectory; below `min_score` it is rejected with `judge.low_score`. A judge that
    could not score (an LLM judge whose answers never validated) says why with a `code` on its judgement. The rule
    judge reads the record's `reading` (shared with the checks) when given one."""
    v.stages.append("judge")
    if reading is not None and isinstance(judge, RuleJudge):
        v.judgement = judge.judge(task, content, reading)
    else:
        v.judgement = judge.judge(task, content)
    code = getattr(v.judgement, "code", None)
    if code:
        v.add([(code, v.judgement.rationale)])
    elif v.judgement.score < min_score:
        v.add([(Reason.LOW_SCORE, f"score {v.judgement.score:g} < {min_score:g}: {v.judgement.rationale}")])


def verify(
    task: Task,
    content: list[dict[str, Any]],
    offered: Mapping[str, Tool],
    store: Store,
    judge: Judge,
    min_score: float,
) -> Verdict:
    """Run every stage up to the judge and collect reason codes."""
    v = check(task, content, offered, store)
    apply_judge(v, task, content, judge, min_score)
    return v
