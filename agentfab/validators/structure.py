"""Checks that need only the events and the offered tools: ADP shape, roles, call/result pairing, arguments."""

from __future__ import annotations

from typing import Any, Mapping

from agentfab.schemas.codes import Reason
from agentfab.validators.reading import Reading
from agentfab.worlds.core import Tool

Event = dict[str, Any]
Failure = tuple[str, str]  # (reason code, detail)


def check_events(content: list[Event]) -> list[Failure]:
    """ADP validity, role separation and the pairing of every call with exactly one result (a `Reading` finds
    them in its one pass over the events; a record's checks read them there)."""
    return list(Reading(content).event_failures)


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
