"""The dataset row: one trajectory with its task, ground truth, verification and provenance.

Declared once, here, as pydantic models. The Parquet (Arrow) schema is derived from them by `arrow_schema()`, and
the JSON Schema published for JSONL interchange by `model_json_schema()`; a test keeps the committed copies in sync.
Only values whose shape differs per tool (call arguments, tool parameters, results, state values) are JSON text.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Callable, Iterable, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

ROW_SCHEMA_VERSION = "1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventRow(_Strict):
    """One ADP event, flattened: `class_` says which of the optional fields apply."""

    class_: Literal["api_action", "code_action", "message_action", "text_observation"]
    content: str | None = None
    function: str | None = None
    kwargs: str | None = Field(default=None, description="JSON text of the call's arguments (api_action).")
    description: str | None = None
    tool_call_id: str | None = None
    source: Literal["user", "agent", "environment"] | None = None
    name: str | None = None
    language: str | None = None


class ToolRow(_Strict):
    name: str
    description: str
    parameters: str = Field(description="JSON text of the parameters' JSON Schema.")
    returns: str = Field(description="JSON text of the result's JSON Schema.")
    domain: str
    source: str
    mutates: bool


class StepRow(_Strict):
    id: str
    tool: str
    arguments: str = Field(description="JSON text.")
    bindings: list[str] = Field(description="'param=STEP.field' entries.")
    depends_on: list[str]
    turn: int
    result: str = Field(description="JSON text of the result of executing this step on a fresh world.")
    asks: list[str] = Field(default_factory=list,
                            description="Result fields the request asks to see; a reply to the turn must state them.")
    expect_error: str | None = Field(default=None, description="The business-rule error this call must meet.")


class StateChangeRow(_Strict):
    table: str
    key: str
    before: str | None = Field(description="JSON text of the record before; null when created.")
    after: str | None = Field(description="JSON text of the record after; null when deleted.")


class GroundTruthRow(_Strict):
    answers: list[list[str]] = Field(description="Per user turn, the normalized values the reply must contain.")
    plan: list[StepRow]
    state_changes: list[StateChangeRow]
    expect_refusal: bool
    clarify_param: str | None
    clarify_question: str | None = None
    clarify_reply: str | None = None
    clarify_step: str | None = Field(default=None, description="The plan step the clarifying question comes before "
                                     "(null: the first step).")
    clarify_options: list[str] = Field(default_factory=list, description="An ambiguous reference: every value it "
                                       "could mean, as written; the question must offer each.")
    user_turns: list[str] = Field(default_factory=list, description="Every user turn's text, in order.")
    needed_tools: list[str] = Field(default_factory=list)
    declined: str | None = Field(default=None, description="The request no offered tool can do (an irrelevant "
                                 "task's whole request, a partial task's second part), which the reply must decline.")
    failure_outcome: str | None = Field(default=None, description="A failure task: 'alternative' (the route the "
                                        "user offered) or 'report' (say plainly what failed and why).")


class VerificationRow(_Strict):
    passed: bool
    reasons: list[str] = Field(description="Reason codes of every check that failed; empty when accepted.")
    details: list[str] = Field(description="One human-readable line per failed check.")
    judge_score: float
    judge_rationale: str
    stages: list[str] = Field(description="Stages this row went through, in order.")
    dedup_key: str = Field(default="", description="Exact-duplicate key (request, calls, results).")


class ProvenanceRow(_Strict):
    recipe_name: str
    recipe_hash: str
    seed: int
    shard: int
    world_seed: int = Field(default=0, description="Seed of the world state this row was generated and replayed on.")
    world_offset: int = Field(default=0, description="Id offset of the task's world variant: new records are "
                                                     "numbered after this many earlier ones (Store.with_offset).")
    world: str = Field(default="", description="JSON text of the recipe's reference to the world (name or spec).")
    engine: str
    models: str = Field(description="JSON text: role -> model, empty for the offline engine.")
    agentfab_version: str
    negative: str | None = Field(description="The perturbation applied, for deliberately broken rows.")


class DatasetRow(_Strict):
    id: str
    task_id: str
    family: str
    domain: str
    kind: str
    depth: int
    width: int
    n_turns: int
    n_calls: int
    n_errors: int
    tools_used: list[str]
    judge_score: float
    query: str
    schema_version: str
    content: list[EventRow]
    details: str = Field(description="JSON text of the ADP `details` object.")
    tools: list[ToolRow]
    ground_truth: GroundTruthRow
    verification: VerificationRow
    provenance: ProvenanceRow


_SCALARS: dict[Any, pa.DataType] = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}


def _arrow_type(annotation: Any) -> tuple[pa.DataType, bool]:
    """(arrow type, nullable) for a pydantic field annotation."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        (inner,) = args
        return _arrow_type(inner)[0], True
    if origin is Literal:
        return pa.string(), False
    if origin is list:
        (item,) = typing.get_args(annotation)
        item_type, item_nullable = _arrow_type(item)
        return pa.list_(pa.field("item", item_type, nullable=item_nullable)), False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct(_arrow_fields(annotation)), False
    if annotation in _SCALARS:
        return _SCALARS[annotation], False
    raise TypeError(f"no Arrow type for {annotation!r}")


def _arrow_fields(model: type[BaseModel]) -> list[pa.Field]:
    hints = typing.get_type_hints(model)
    fields = []
    for name in model.model_fields:
        arrow_type, nullable = _arrow_type(hints[name])
        fields.append(pa.field(name, arrow_type, nullable=nullable))
    return fields


def arrow_schema() -> pa.Schema:
    """The Parquet schema of accepted and rejected shards, derived from DatasetRow."""
    return pa.schema(_arrow_fields(DatasetRow), metadata={b"agentfab.row_schema": ROW_SCHEMA_VERSION.encode()})


ROW_ARROW_SCHEMA = arrow_schema()


class RowShapeError(ValueError):
    """A row whose keys are not the contract's: a misspelled key would otherwise vanish in the Parquet writer."""


# A struct's field names and the nested checks of its fields; a list of structs checks each item.
_Shape = tuple[frozenset[str], tuple[tuple[str, Any], ...]]


def _shape(arrow_type: pa.DataType) -> Any:
    if pa.types.is_struct(arrow_type):
        fields = [arrow_type.field(i) for i in range(arrow_type.num_fields)]
        nested = tuple((f.name, sub) for f in fields if (sub := _shape(f.type)) is not None)
        return (frozenset(f.name for f in fields), nested)
    if pa.types.is_list(arrow_type):
        item = _shape(arrow_type.value_type)
        return None if item is None else ("list", item)
    return None


_ROW_SHAPE = _shape(pa.struct(list(ROW_ARROW_SCHEMA)))


def _misfit(value: Any, shape: Any, at: str) -> str | None:
    if value is None:
        return None  # nullability is the Arrow writer's to check
    if shape[0] == "list":
        for i, item in enumerate(value):
            if (problem := _misfit(item, shape[1], f"{at}[{i}]")) is not None:
                return problem
        return None
    names, nested = shape
    if not isinstance(value, dict):
        return f"{at or 'row'} must be an object, got {type(value).__name__}"
    if value.keys() != names:
        unknown, missing = sorted(value.keys() - names), sorted(names - value.keys())
        return f"{at or 'row'}: " + "; ".join(
            [f"unknown key(s) {unknown}"] * bool(unknown) + [f"missing key(s) {missing}"] * bool(missing))
    for name, sub in nested:
        if (problem := _misfit(value[name], sub, f"{at}.{name}" if at else name)) is not None:
            return problem
    return None


def _fits(value: Any, shape: Any) -> bool:
    """`_misfit(...) is None`, without building the path of every value it passes (the common case)."""
    if value is None:
        return True
    if shape[0] == "list":
        item = shape[1]
        if item[0] != "list" and not item[1]:  # a list of flat structs (events, tools): no call per item
            names = item[0]
            for v in value:
                if v is not None and not (isinstance(v, dict) and v.keys() == names):
                    return False
            return True
        for v in value:
            if not _fits(v, item):
                return False
        return True
    names, nested = shape
    if not isinstance(value, dict) or value.keys() != names:
        return False
    for name, sub in nested:
        if not _fits(value[name], sub):
            return False
    return True


def check_row_shapes(rows: list[dict[str, Any]]) -> None:
    """Raise RowShapeError unless every row has exactly the keys of `DatasetRow`, at every level."""
    for row in rows:
        if _fits(row, _ROW_SHAPE):
            continue
        problem = _misfit(row, _ROW_SHAPE, "")
        if problem is not None:
            raise RowShapeError(f"row {row.get('id', '?') if isinstance(row, dict) else '?'} does not fit the "
                                f"DatasetRow contract: {problem}")


def returns_of(tools: Iterable[dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """A row's tools (`ToolRow`s) -> the result schema of a tool by name ({} for one the row does not offer), each
    parsed when first asked for (most rows never ask: only a yes/no fact reads its field's description)."""
    texts = {t["name"]: t["returns"] for t in tools}
    parsed: dict[str, dict[str, Any]] = {}

    def returns(name: str) -> dict[str, Any]:
        found = parsed.get(name)
        if found is None:
            found = parsed[name] = json.loads(texts[name]) if name in texts else {}
        return found

    return returns
