"""Checks that need only the events and the offered tools: ADP shape, roles, call/result pairing, arguments."""

from __future__ import annotations

from typing import Any, Mapping

from agentfab.schemas.codes import Reason
from agentfab.worlds.core import Tool

Event = dict[str, Any]
Failure = tuple[str, str]  # (reason code, detail)

_REQUIRED = {  # one or two fields each (check_events reads them without a loop)
    "api_action": ("function", "kwargs"),
    "code_action": ("language", "content"),
    "message_action": ("content",),
    "text_observation": ("content", "source"),
}


def check_events(content: list[Event]) -> list[Failure]:
    """ADP validity, role separation and the pairing of every call with exactly one result."""
    failures: list[Failure] = []
    if not content:
        return [(Reason.INVALID_EVENT, "the trajectory has no events")]
    pending: dict[str, int] = {}
    seen: set[str] = set()
    for i, ev in enumerate(content):
        cls = ev.get("class_")
        required = _REQUIRED.get(cls)
        if required is None or ev.get(required[0]) is None or (len(required) > 1 and ev.get(required[1]) is None):
            failures.append((Reason.INVALID_EVENT, f"content[{i}] is not a valid ADP event: class_={cls!r}"))
            continue
        if cls == "api_action":
            if not isinstance(ev["kwargs"], dict):
                failures.append((Reason.INVALID_EVENT, f"content[{i}]: kwargs must be an object"))
            cid = ev.get("tool_call_id")
            if not cid:
                failures.append((Reason.ORPHAN_RESULT, f"content[{i}]: call to {ev['function']} has no tool_call_id"))
            elif cid in seen:
                failures.append((Reason.DUPLICATE_CALL_ID, f"content[{i}]: tool_call_id {cid} is used twice"))
            else:
                seen.add(cid)
                pending[cid] = i
        elif cls == "text_observation":
            source, cid = ev["source"], ev.get("tool_call_id")
            if source == "user":
                if cid is not None:
                    failures.append((Reason.ROLE_CONFUSION, f"content[{i}]: a user turn carries tool_call_id {cid}"))
                if pending:
                    failures.append((Reason.TURN_ORDER, f"content[{i}]: user speaks while calls are unanswered"))
            elif source == "environment":
                if cid is None:
                    failures.append((Reason.ROLE_CONFUSION, f"content[{i}]: environment text without tool_call_id"))
                elif cid not in pending:
                    failures.append((Reason.ORPHAN_RESULT, f"content[{i}]: result for {cid}, which no pending call made"))
                else:
                    del pending[cid]
            else:
                failures.append((Reason.ROLE_CONFUSION, f"content[{i}]: observation from {source!r}"))
        elif cls == "message_action" and pending:
            failures.append((Reason.TURN_ORDER, f"content[{i}]: the agent replies while calls are unanswered"))
    for cid, i in pending.items():
        failures.append((Reason.UNANSWERED_CALL, f"content[{i}]: call {cid} never gets a result"))
    if content[0].get("class_") != "text_observation" or content[0].get("source") != "user":
        failures.append((Reason.TURN_ORDER, "the trajectory does not open with a user turn"))
    if content[-1].get("class_") != "message_action":
        failures.append((Reason.NO_FINAL_ANSWER, "the last event is not a message to the user"))
    return failures


def check_calls(content: list[Event], offered: Mapping[str, Tool], keys: Mapping[int, str] | None = None
                ) -> list[Failure]:
    """Every call names an offered tool and its arguments validate against that tool's JSON Schema. `keys`: the
    canonical JSON of the arguments of every api_action whose kwargs are an object, by index (a `Reading`'s)."""
    failures: list[Failure] = []
    if keys is None:
        keys = {i: None for i, ev in enumerate(content)  # type: ignore[misc]
                if ev.get("class_") == "api_action" and isinstance(ev.get("kwargs"), dict)}
    for i, key in keys.items():
        ev = content[i]
        tool = offered.get(ev["function"])
        if tool is None:
            failures.append((Reason.UNKNOWN_TOOL, f"content[{i}]: {ev['function']} is not an offered tool"))
            continue
        problem = tool.check(ev["kwargs"], key)
        if problem is not None:
            failures.append((Reason.BAD_ARGUMENTS, f"content[{i}]: {ev['function']}: {problem}"))
    return failures
