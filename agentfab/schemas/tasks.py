"""Task: what the user asks, which tools are offered, the plan (a DAG of calls) and its computed ground truth."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TaskKind = Literal["single", "parallel", "chain", "compound", "multi_turn", "irrelevant", "clarify"]
TASK_KINDS: tuple[str, ...] = ("single", "parallel", "chain", "compound", "multi_turn", "irrelevant", "clarify")


class PlanStep(BaseModel):
    """One call of the plan. `arguments` are the concrete values; `bindings` say which came from earlier steps."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Step id, unique within the task (s1, s2, ...).")
    tool: str
    arguments: dict[str, Any]
    bindings: dict[str, str] = Field(
        default_factory=dict,
        description="param -> 'STEP.field': the argument is the named output field of an earlier step.",
    )
    depends_on: list[str] = Field(default_factory=list)
    turn: int = Field(default=0, ge=0, description="Index of the user turn this step answers.")


class UserTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    steps: list[str] = Field(default_factory=list, description="Plan steps that answer this turn.")
    answer: list[str] = Field(
        default_factory=list, description="Normalized values the agent's reply to this turn must contain."
    )


class Clarification(BaseModel):
    """A required value the first user turn leaves out; the agent must ask, the scripted user answers."""

    model_config = ConfigDict(extra="forbid")

    step: str
    param: str
    question: str
    reply: str
    value: Any


class Task(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    family: str = Field(description="Id of the atomic task this one was grown from (splits keep families together).")
    domain: str
    kind: TaskKind
    depth: int = Field(ge=0, description="Longest chain of dependent calls (0 when no call is needed).")
    width: int = Field(ge=0, description="Most independent calls in one request.")
    user_turns: list[UserTurn] = Field(min_length=1)
    tools: list[str] = Field(description="Offered tools: the needed ones plus distractors.")
    needed_tools: list[str]
    plan: list[PlanStep]
    results: dict[str, Any] = Field(default_factory=dict, description="Step id -> result of executing the plan.")
    state_diff: dict[str, dict[str, list[Any]]] = Field(
        default_factory=dict, description="table -> key -> [before, after] after executing the plan; {} if read-only."
    )
    clarification: Clarification | None = None
    expect_refusal: bool = Field(default=False, description="No offered tool fits: the agent must not call one.")

    @property
    def turns(self) -> int:
        return len(self.user_turns)
