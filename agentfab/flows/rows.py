"""Dataset rows (the storage form of `DatasetRow`), assembled in one place: `trajectory_row`. A built task's row
comes through `dataset_row`, an imported record's through `flows.importing`."""

from __future__ import annotations

import json
from typing import Any

from agentfab import __version__
from agentfab.schemas.codes import Reason
from agentfab.schemas.tasks import Task
from agentfab.schemas.tools import ToolSpec
from agentfab.schemas.trajectory import ADP_SCHEMA_VERSION
from agentfab.validators.verify import Verdict
from agentfab.worlds.core import Domain, canonical_json

# a row without a composed task (an imported record, a task a tool raised on): nothing to compare answers, calls or
# state against
EMPTY_GROUND_TRUTH: dict[str, Any] = {"answers": [], "plan": [], "state_changes": [], "expect_refusal": False,
                                      "clarify_param": None, "clarify_question": None, "clarify_reply": None,
                                      "clarify_step": None, "clarify_options": [], "user_turns": [], "needed_tools": [], "failure_outcome": None,
                                      "declined": None}
_EVENT_FIELDS = ("class_", "content", "function", "kwargs", "description", "tool_call_id", "source", "name", "language")
_NO_EVENT = dict.fromkeys(_EVENT_FIELDS)
_N_FIELDS = len(_NO_EVENT)


def event_row(event: dict[str, Any]) -> dict[str, Any]:
    """The stored event: every field of `EventRow` (None where the event has none), kwargs as JSON text; keys an
    event may carry beyond those are not stored."""
    row = {**_NO_EVENT, **event}
    if len(row) != _N_FIELDS:  # a key beyond the stored fields (checked after the merge: the common case pays less)
        row = {k: event.get(k) for k in _EVENT_FIELDS}
    if isinstance(row["kwargs"], dict):
        row["kwargs"] = canonical_json(row["kwargs"])
    return row


def event_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """The in-memory event (kwargs as an object) a validator reads, from a stored event."""
    event = {k: v for k, v in row.items() if v is not None}
    if event.get("class_") == "api_action":
        try:
            event["kwargs"] = json.loads(event.get("kwargs") or "null")
        except ValueError:
            event["kwargs"] = None
    return event


def tool_row(spec: ToolSpec) -> dict[str, Any]:
    return {
        "name": spec.name, "description": spec.description,
        "parameters": canonical_json(spec.parameters), "returns": canonical_json(spec.returns),
        "domain": spec.domain, "source": spec.source, "mutates": spec.mutates,
    }


def tool_rows(domain: Domain, names: list[str]) -> list[dict[str, Any]]:
    """Specs are frozen: each is serialized once per domain, and every row offering it holds that one dict (rows are
    never changed once made; `flows.row_arrow` converts each distinct tool once). The lists are the row's own: the
    offered tools differ from task to task (distractors), so a memo of whole lists would only grow."""
    made: dict[str, dict[str, Any]] = domain.memo("tool_rows", dict)
    out = []
    for name in names:
        row = made.get(name)
        if row is None:
            row = made[name] = tool_row(domain.tool(name).spec)
        out.append(row)
    return out


def trajectory_row(
    *,
    row_id: str,
    task_id: str,
    family: str,
    domain: str,
    kind: str,
    shape: tuple[int, int, int],
    query: str,
    content: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    details: dict[str, Any],
    ground_truth: dict[str, Any],
    verification: dict[str, Any],
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """The one place a dataset row is assembled (built tasks and imported records alike): what is read off the
    events (calls, failed calls, tools used) is computed here and nowhere else. `shape` is
    (depth, width, turns); `content` holds in-memory events (kwargs as objects)."""
    n_calls = n_errors = 0
    used = set()
    events = []
    for e in content:  # one pass: the stored events and what is read off them
        events.append(event_row(e))
        if e.get("class_") == "api_action":
            n_calls += 1
            if isinstance(e.get("function"), str):
                used.add(e["function"])
        elif e.get("source") == "environment" and str(e.get("content") or "").startswith('{"error"'):
            n_errors += 1
    depth, width, turns = shape
    return {
        "id": row_id,
        "task_id": task_id,
        "family": family,
        "domain": domain,
        "kind": kind,
        "depth": depth,
        "width": width,
        "n_turns": turns,
        "n_calls": n_calls,
        "n_errors": n_errors,
        "tools_used": sorted(used),
        "judge_score": verification["judge_score"],
        "query": query,
        "schema_version": ADP_SCHEMA_VERSION,
        "content": events,
        "details": canonical_json(details),
        "tools": tools,
        "ground_truth": ground_truth,
        "verification": verification,
        "provenance": {**provenance, "agentfab_version": __version__},
    }


def dataset_row(
    *,
    row_id: str,
    task: Task,
    content: list[dict[str, Any]],
    verdict: Verdict,
    domain: Domain,
    provenance: dict[str, Any],
    dedup_key: str,
) -> dict[str, Any]:
    """The row of a built task: its trajectory, ground truth and verdict."""
    return trajectory_row(
        row_id=row_id, task_id=task.id, family=task.family, domain=task.domain, kind=task.kind,
        shape=(task.depth, task.width, task.turns), query=task.user_turns[0].text, content=content, tools=tool_rows(domain, task.tools),
        details={"task_id": task.id, "domain": task.domain, "kind": task.kind,
                 "world_seed": provenance["world_seed"], "world_offset": provenance.get("world_offset", 0)},
        ground_truth={
            "answers": [t.answer for t in task.user_turns],
            "plan": [
                {"id": s.id, "tool": s.tool, "arguments": canonical_json(s.arguments),
                 "bindings": [f"{p}={r}" for p, r in sorted(s.bindings.items())], "depends_on": s.depends_on,
                 "turn": s.turn, "result": canonical_json(task.results.get(s.id)), "asks": s.asks,
                 "expect_error": s.expect_error}
                for s in task.plan
            ],
            "state_changes": [
                {"table": table, "key": key,
                 "before": None if before is None else canonical_json(before),
                 "after": None if after is None else canonical_json(after)}
                for table, rows in sorted(task.state_diff.items()) for key, (before, after) in sorted(rows.items())
            ],
            "expect_refusal": task.expect_refusal,
            "clarify_param": task.clarification.param if task.clarification else None,
            "clarify_question": task.clarification.question if task.clarification else None,
            "user_turns": [t.text for t in task.user_turns],
            "clarify_reply": task.clarification.reply if task.clarification else None,
            "clarify_step": task.clarification.step if task.clarification else None,
            "clarify_options": task.clarification.options if task.clarification else [],
            "needed_tools": task.needed_tools,
            "failure_outcome": task.failure_outcome,
            "declined": task.declined,
        },
        verification=_verification(verdict, dedup_key),
        provenance=provenance,
    )


def _verification(verdict: Verdict, dedup_key: str) -> dict[str, Any]:
    return {
        "passed": verdict.passed,
        "reasons": list(verdict.reasons),
        "details": list(verdict.details),
        "judge_score": verdict.judgement.score,
        "judge_rationale": verdict.judgement.rationale,
        "stages": list(verdict.stages),
        "dedup_key": dedup_key,
    }


def raised_row(*, row_id: str, kind: str, domain: Domain, task: Task | None, failure: str,
               provenance: dict[str, Any]) -> dict[str, Any]:
    """The rejected row of a task on which a `{python: module}` tool raised (`exec.tool_raised`, see ToolRaised):
    the task as far as it got (its request and ground truth, when it was composed before the tool raised), no
    trajectory, and in its verification details which tool raised what, where."""
    verdict = Verdict(reasons=[Reason.TOOL_RAISED], details=[f"{Reason.TOOL_RAISED}: {failure}"],
                      stages=["schema", "exec"])
    if task is not None:
        opening = {"class_": "text_observation", "source": "user", "content": task.user_turns[0].text}
        return dataset_row(row_id=row_id, task=task, content=[opening], verdict=verdict, domain=domain,
                           provenance=provenance, dedup_key="")
    return trajectory_row(
        row_id=row_id, task_id=row_id, family="", domain=domain.name, kind=kind, shape=(0, 0, 0), query="",
        content=[], tools=[],
        details={"task_id": row_id, "domain": domain.name, "kind": kind, "world_seed": provenance["world_seed"],
                 "world_offset": provenance.get("world_offset", 0)},
        ground_truth={**EMPTY_GROUND_TRUTH, "answers": [[]]},  # one (empty) turn: the task was never phrased
        verification=_verification(verdict, ""), provenance=provenance)

