"""The trajectory as the Agent Data Protocol (ADP) defines it.

Field names and `class_` values follow ADP's own pydantic models, so an `adp-jsonl` export loads there unchanged.
Two rules ADP's own data breaks (its issues #217, #104) are enforced here: a tool result is always
`source="environment"` and carries the `tool_call_id` of the call it answers; a user turn never carries one.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The ADP releases (`schema/version.py`, SUPPORTED_SCHEMA_VERSIONS of the newest release read), newest first. ADP's
# `Trajectory` refuses any other value, patch versions included. Exports follow the newest, 1.5.0: per-call
# `tool_call_id`s on actions and observations (required for a call followed by its result since 1.3.0); its
# optional `reasoning_content` and `reward` are not written.
ADP_RELEASED_VERSIONS = ("1.5.0", "1.4.0", "1.3.0", "1.2.0", "1.1.0", "1.0.0")
ADP_SCHEMA_VERSION = ADP_RELEASED_VERSIONS[0]
AdpVersion = Literal["1.5.0", "1.4.0", "1.3.0", "1.2.0", "1.1.0", "1.0.0"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiAction(_Event):
    class_: Literal["api_action"] = "api_action"
    function: str
    kwargs: dict[str, Any]
    description: str | None = None
    tool_call_id: str | None = None


class CodeAction(_Event):
    class_: Literal["code_action"] = "code_action"
    language: str
    content: str
    description: str | None
    tool_call_id: str | None = None


class MessageAction(_Event):
    class_: Literal["message_action"] = "message_action"
    content: str
    description: str | None = None


class TextObservation(_Event):
    class_: Literal["text_observation"] = "text_observation"
    content: str
    name: str | None = None
    source: Literal["user", "agent", "environment"]
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _roles_do_not_mix(self) -> "TextObservation":
        if self.source == "user" and self.tool_call_id is not None:
            raise ValueError("a user turn cannot carry a tool_call_id: tool results use source='environment'")
        return self


Event = Annotated[
    Union[ApiAction, CodeAction, MessageAction, TextObservation], Field(discriminator="class_")
]


class Trajectory(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: AdpVersion = ADP_SCHEMA_VERSION
    id: str
    content: list[Event] = Field(min_length=1)
    details: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _calls_and_results_pair_up(self) -> "Trajectory":
        pending: set[str] = set()
        seen: set[str] = set()
        for i, event in enumerate(self.content):
            if isinstance(event, (ApiAction, CodeAction)) and event.tool_call_id is not None:
                if event.tool_call_id in seen:
                    raise ValueError(f"content[{i}]: tool_call_id {event.tool_call_id!r} is used twice")
                seen.add(event.tool_call_id)
                pending.add(event.tool_call_id)
            elif isinstance(event, TextObservation) and event.tool_call_id is not None:
                if event.tool_call_id not in pending:
                    raise ValueError(
                        f"content[{i}]: observation answers {event.tool_call_id!r}, which no earlier, "
                        "unanswered call made"
                    )
                pending.discard(event.tool_call_id)
        return self
