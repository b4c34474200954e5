"""What the composer makes: a plan's steps, the plan with its executed truth, and the limits it composes within."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FAILED = object()  # `Composer.try_call`: the call failed


@dataclass(slots=True)
class Step:
    id: str
    tool: str
    arguments: dict[str, Any]
    bindings: dict[str, str] = field(default_factory=dict)  # param -> "STEP_ID.field"
    depends_on: list[str] = field(default_factory=list)
    turn: int = 0
    expect_error: str | None = None  # a failure task's first attempt meets this business rule
    ask: str | None = None  # a clarify task: the parameter the assistant must ask the user for before this call
    options: list[Any] = field(default_factory=list)  # ... and, for an ambiguous reference, what it could mean
    # canonical JSON of `arguments` once some stage computed it (composing keys its memos by it; carried, not redone)
    key: str | None = field(default=None, compare=False, repr=False)


@dataclass
class Plan:
    """A composed plan before it is rendered into a Task: steps in execution order plus its executed truth."""

    kind: str
    steps: list[Step]
    members: list[list[str]]  # independent groups (width); each a chain of step ids in order
    results: dict[str, Any] = field(default_factory=dict)
    state_diff: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    family: str = ""
    depth: int = 0
    width: int = 0


@dataclass(frozen=True)
class ComposeLimits:
    max_depth: int = 4
    max_width: int = 4
    attempts: int = 24
