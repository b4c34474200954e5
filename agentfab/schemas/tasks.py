"""Task: what the user asks, which tools are offered, the plan (a DAG of calls) and its computed ground truth."""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from agentfab.schemas.answers import normalize
from agentfab.schemas.wording import yes_no_predicate

TaskKind = Literal["single", "parallel", "chain", "compound", "multi_turn", "irrelevant", "clarify", "failure",
                   "partial"]
TASK_KINDS: tuple[str, ...] = ("single", "parallel", "chain", "compound", "multi_turn", "irrelevant", "clarify",
                               "failure", "partial")
FailureOutcome = Literal["alternative", "report"]


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
    expect_error: str | None = Field(
        default=None, description="The business-rule error this call must meet (a failure task's first attempt).")
    asks: list[str] = Field(
        default_factory=list,
        description="Result fields of this step the request asks to see (a reply to its turn must state them).",
    )


class Fact(BaseModel):
    """One thing the user asked to see: a result field of a plan step, as the normalized values a reply states."""

    model_config = ConfigDict(extra="forbid")

    step: str
    field: str
    values: list[str] = Field(description="Normalized values; a list result asks for each of its items.")


class UserTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    steps: list[str] = Field(default_factory=list, description="Plan steps that answer this turn.")
    answer: list[str] = Field(
        default_factory=list,
        description="Normalized values the agent's reply to this turn must contain: the final steps' asked facts.",
    )
    facts: list[Fact] = Field(
        default_factory=list,
        description="Every fact this turn asks to see, intermediate steps included (`truth.incomplete_answer`).",
    )


class Clarification(BaseModel):
    """A value the first user turn leaves out or names ambiguously; the agent must ask before the step that needs
    it (after the steps before it, in a multi-step task), the scripted user answers."""

    model_config = ConfigDict(extra="forbid")

    step: str = Field(description="The plan step that needs the answer: the assistant asks before calling it.")
    param: str
    question: str
    reply: str
    value: Any
    options: list[str] = Field(
        default_factory=list,
        description="An ambiguous reference: the values it could mean, as written (the question offers each).")


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
    declined: str | None = Field(
        default=None, description="The request no offered tool can do: a partial task's second part (the agent does "
                                     "the rest and declines this), or an irrelevant task's whole request.")
    failure_outcome: FailureOutcome | None = Field(
        default=None, description="A failure task: take the alternative the user gave, or report what failed and why.")

    @property
    def turns(self) -> int:
        return len(self.user_turns)


Model = TypeVar("Model", bound=BaseModel)
_new = object.__new__
_EVERY_FIELD: dict[type, set[str]] = {}  # model -> the names of all its fields (see `built`)
# the setters of BaseModel's own slots, called directly: no lookup of the name through the model's classes
_SET_DICT, _SET_FIELDS, _SET_EXTRA, _SET_PRIVATE = (BaseModel.__dict__[name].__set__ for name in (
    "__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"))


def built(model: type[Model], values: dict[str, Any]) -> Model:
    """`model.model_validate(values)` for `values` the task composer assembled itself: every field, in declared
    order, each already of its type (fresh lists and dicts, strs, ints, nested models built so). The same instance
    without validating, which cost a task a fifth of its phrasing. Only for the models of this module; a test
    validates every kind of task built this way again and gets the same task."""
    out = _new(model)
    _SET_DICT(out, values)
    # every field is given, so the fields set is the model's every field: one set shared by its instances
    # (pydantic only adds to it, a name it has already, on an assignment, and copies it for a copy)
    fields = _EVERY_FIELD.get(model)
    _SET_FIELDS(out, fields if fields is not None else _EVERY_FIELD.setdefault(model, set(model.model_fields)))
    _SET_EXTRA(out, None)
    _SET_PRIVATE(out, None)
    return out


# normalize() of a text, once per distinct text: result values recur (a variant's reads are reused by its tasks).
# ~550 texts a shard of 5,000 tasks are new for good (created ids, amounts): capped at 65,536 (~250 B an entry), it
# grew a worker by ~0.06 MB a shard through a whole 1M-task build. 8,192 misses ~300 texts a shard more (~1 us each)
_normalized = functools.lru_cache(maxsize=8_192)(normalize)
# the same of a number (an amount, a count: ~1 fact a task), typed: 1, 1.0 and True are said "1", "1.00", "yes"
_normalized_number = functools.lru_cache(maxsize=8_192, typed=True)(normalize)


def fact_values(value: Any) -> list[str] | None:
    """The normalized values that state a result field, or None when a reply cannot state it (nested records)."""
    if type(value) is str:  # the common case
        return [_normalized(value)]
    if isinstance(value, dict):
        return None
    if isinstance(value, list):
        out = []
        for v in value:
            if isinstance(v, (list, dict)):
                return None
            out.append(_normalized(v) if type(v) is str else normalize(v))
        return list(dict.fromkeys(out))
    return [_normalized_number(value) if type(value) is int or type(value) is float else normalize(value)]


# (step id, result field) -> the field's schema description: what a yes/no fact is stated with (`yes_no_predicate`)
Described = Callable[[str, str], str]


def required_facts(plan: list[PlanStep], results: dict[str, Any], turn: int, described: Described) -> list[Fact]:
    """The facts a reply to `turn` must state: every asked field of every step of that turn, in plan order."""
    return [Fact(step=step, field=name, values=values) for step, name, values
            in asked_values(((s.id, s.turn, s.asks) for s in plan), results, turn, described)]


def asked_values(plan: Iterable[tuple[str, int, Iterable[str]]], results: dict[str, Any], turn: int,
                 described: Described) -> list[tuple[str, str, list[str]]]:
    """`required_facts` as (step, field, values), from each step's (id, turn, asks): for a caller that builds the
    whole task in one validation. A yes/no value is stated by its predicate ("is not active"), read from the
    field's description."""
    out: list[tuple[str, str, list[str]]] = []
    for step_id, step_turn, asks in plan:
        result = results.get(step_id)
        if step_turn != turn or not isinstance(result, dict):
            continue
        for name in asks:
            if name not in result:
                continue
            value = result[name]
            if type(value) is str:  # most values: `fact_values` of a str, without the call
                out.append((step_id, name, [_normalized(value)]))
                continue
            values = ([normalize(yes_no_predicate(described(step_id, name), name, value))] if type(value) is bool
                      else fact_values(value))
            if values is not None:
                out.append((step_id, name, values))
    return out


def described_by(plan: Iterable[PlanStep], returns: Callable[[str], dict[str, Any]]) -> Described:
    """`Described` of a plan's steps, from each tool's result schema (`returns(tool name)`)."""
    tools: dict[str, str] = {}  # step id -> its tool, made on first use (only a yes/no value asks)

    def described(step_id: str, field: str) -> str:
        if not tools:
            tools.update((s.id, s.tool) for s in plan)
        found = returns(tools[step_id]).get("properties", {}).get(field)
        return found.get("description", "") if isinstance(found, dict) else ""

    return described
