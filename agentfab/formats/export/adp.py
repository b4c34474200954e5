"""Dataset row <-> ADP trajectory (Agent Data Protocol), the `adp-jsonl` format.

A row stores events flattened (every EventRow field, unused ones None) with arguments as JSON text. ADP wants each
event with only its own class's fields, arguments as an object, and `details` as an object. `None` fields are left
out except `description` on a code_action, whose key ADP requires (null allowed).
"""

from __future__ import annotations

import json
from typing import Any

from agentfab.formats.export.chat import SkipRow
from agentfab.schemas.rows import EventRow
from agentfab.schemas.trajectory import ADP_SCHEMA_VERSION, Trajectory

# ADP's field order per class; the keys listed in _REQUIRED stay even when None.
_FIELDS: dict[str, tuple[str, ...]] = {
    "api_action": ("class_", "function", "kwargs", "description", "tool_call_id"),
    "code_action": ("class_", "language", "content", "description", "tool_call_id"),
    "message_action": ("class_", "content", "description"),
    "text_observation": ("class_", "content", "name", "source", "tool_call_id"),
}
_REQUIRED: dict[str, frozenset[str]] = {"code_action": frozenset({"description"})}

# Row columns copied into `details` when the stored details lack them (the stored value wins).
_DETAIL_COLUMNS = ("task_id", "family", "kind", "depth", "width", "n_turns", "domain", "judge_score")


def _event(event: dict[str, Any], where: str) -> dict[str, Any]:
    cls = event.get("class_")
    if cls not in _FIELDS:
        raise SkipRow("adp.unknown_event", f"{where}: unknown event class {cls!r}")
    stray = [k for k, v in event.items() if v is not None and k not in _FIELDS[cls]]
    if stray:
        raise SkipRow("adp.stray_field", f"{where}: a {cls} cannot carry {', '.join(stray)}")
    out: dict[str, Any] = {}
    for key in _FIELDS[cls]:
        value = event.get(key)
        if key == "kwargs" and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise SkipRow("adp.bad_arguments", f"{where}: kwargs is not JSON text") from None
        if value is not None or key in _REQUIRED.get(cls, ()):
            out[key] = value
    return out


def row_details(row: dict[str, Any]) -> dict[str, Any]:
    """The row's stored `details`, completed with its identifying columns and its verdict."""
    try:
        details = json.loads(row.get("details") or "{}")
    except ValueError:
        raise SkipRow("adp.bad_details", f"row {row.get('id')}: details is not JSON text") from None
    if not isinstance(details, dict):
        raise SkipRow("adp.bad_details", f"row {row.get('id')}: details is not a JSON object")
    for column in _DETAIL_COLUMNS:
        if column in row and column not in details:
            details[column] = row[column]
    verification = row.get("verification")
    if isinstance(verification, dict) and "verification" not in details:
        details["verification"] = {"passed": verification.get("passed"),
                                   "reasons": list(verification.get("reasons") or [])}
    return details


def row_to_trajectory(row: dict[str, Any]) -> dict[str, Any]:
    """One row as an ADP trajectory dict, checked against the Trajectory model."""
    row_id = row.get("id", "?")
    trajectory = {
        "schema_version": ADP_SCHEMA_VERSION,  # the release this exporter writes, whatever a row was built with
        "id": row_id,
        "content": [_event(e, f"row {row_id} content[{i}]") for i, e in enumerate(row.get("content") or [])],
        "details": row_details(row),
    }
    try:
        Trajectory.model_validate(trajectory)
    except ValueError as exc:
        raise SkipRow("adp.invalid", f"row {row_id}: {exc}") from None
    return trajectory


def export_row(row: dict[str, Any], *, reasoning: bool = True) -> dict[str, Any]:
    """The `adp-jsonl` record. Without reasoning, every event's `description` is dropped (code_action keeps null)."""
    trajectory = row_to_trajectory(row)
    if not reasoning:
        for event in trajectory["content"]:
            if "description" in event:
                if event["class_"] == "code_action":
                    event["description"] = None
                else:
                    del event["description"]
    return trajectory


def _kwargs_text(kwargs: Any) -> str:
    # The row's storage form: sorted keys, no spaces, UTF-8 as is.
    return json.dumps(kwargs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def trajectory_to_events(trajectory: dict[str, Any]) -> list[dict[str, Any]]:
    """The inverse: an ADP trajectory's content as stored EventRow dicts (every field present, kwargs as JSON text)."""
    parsed = Trajectory.model_validate(trajectory)
    events = []
    for event in parsed.content:
        data = event.model_dump()
        if "kwargs" in data:
            data["kwargs"] = _kwargs_text(data["kwargs"])
        events.append(EventRow.model_validate(data).model_dump())
    return events
