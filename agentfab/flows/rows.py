"""Dataset rows (the storage form of `DatasetRow`), assembled in one place: `trajectory_row`. A built task's row
comes through `dataset_row`, an imported record's through `flows.importing`; `ShardRows` holds a shard's.

A row is a record (`flows.row_arrow`): at every struct level a tuple of the contract's fields in its order. This
module writes them as tuple literals in the order LAYOUT declares, which is checked against the contract once, when
the module loads (not once per row); other callers (imports) use the makers of `record_maker`, keyword-only and named
after the contract's fields, so a misspelled or missing field is refused where the row is made. The writer transposes
records into columns without looking a key up again; `record_dict` gives the dict a reader of the file gets. What the shard's stats count of its rows (distributions, quality figures) is counted as
each row is made, from what making it read, never by walking the rows again.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple

from agentfab import __version__
from agentfab.flows.quality import QualityTally, is_lint_rejected
from agentfab.flows.row_arrow import check_layout, fields_at, record_dict, record_maker
from agentfab.schemas.codes import STAGES, Reason
from agentfab.schemas.manifest import ShardQuality
from agentfab.schemas.rows import RowShapeError
from agentfab.schemas.tasks import Task
from agentfab.schemas.tools import ToolSpec
from agentfab.schemas.trajectory import ADP_SCHEMA_VERSION
from agentfab.validators.reading import STORED_FIELDS, Reading
from agentfab.validators.verify import Verdict
from agentfab.worlds.core import Domain, ToolRaised, canonical_json

if TYPE_CHECKING:
    from agentfab.flows.stages import Draft, Record

Row = tuple[Any, ...]  # a record of DatasetRow (see flows.row_arrow)

# The order in which this module writes each record's fields (tuple literals below, the hot path: a keyword call per
# record costs more than the dict it replaces). Checked against the contract once, when the module loads; the
# makers (keyword-only, named after the contract's fields) serve every other caller.
LAYOUT = {
    "": ("id", "task_id", "family", "domain", "kind", "depth", "width", "n_turns", "n_calls", "n_errors",
         "tools_used", "judge_score", "query", "schema_version", "content", "details", "tools", "ground_truth",
         "verification", "provenance"),
    "content": STORED_FIELDS,  # a Reading stores each event in this order
    "ground_truth": ("answers", "plan", "state_changes", "expect_refusal", "clarify_param", "clarify_question",
                     "clarify_reply", "clarify_step", "clarify_options", "user_turns", "needed_tools", "declined",
                     "failure_outcome"),
    "ground_truth.plan": ("id", "tool", "arguments", "bindings", "depends_on", "turn", "result", "asks",
                          "expect_error"),
    "ground_truth.state_changes": ("table", "key", "before", "after"),
    "verification": ("passed", "reasons", "details", "judge_score", "judge_rationale", "stages", "dedup_key"),
}
check_layout(LAYOUT)

tool_record = record_maker("tools")
ground_truth_record = record_maker("ground_truth")
verification_record = record_maker("verification")
_PROVENANCE = fields_at("provenance")
_provenance_of = itemgetter(*_PROVENANCE)

_JUDGE_SCORE = LAYOUT["verification"].index("judge_score")
EVENT_FIELDS = LAYOUT["content"]

# a row without a composed task (an imported record, a task a tool raised on): nothing to compare answers, calls or
# state against
EMPTY_GROUND_TRUTH: dict[str, Any] = {"answers": [], "plan": [], "state_changes": [], "expect_refusal": False,
                                      "clarify_param": None, "clarify_question": None, "clarify_reply": None,
                                      "clarify_step": None, "clarify_options": [], "user_turns": [], "needed_tools": [],
                                      "failure_outcome": None, "declined": None}


class Events(NamedTuple):
    """A trajectory's stored events and what is read off them in the same pass."""

    stored: list[Row]  # event records: kwargs as JSON text; keys an event carries beyond the contract's are not stored
    functions: list[Any]  # the function of each call, in order
    errors: list[str]  # the text of each tool result that is an error


def stored_events(content: list[dict[str, Any]], reading: Reading | None = None) -> Events:
    """`content` (in-memory events, kwargs as objects) as stored: a `Reading` of them stores each event in its one
    pass over them (`Reading.stored`, a call's kwargs as canonical JSON); `reading`: one of `content` already made
    (by the checks), else one is made."""
    read = reading if reading is not None and reading.content is content else Reading(content)
    stored = read.stored
    return Events(stored, [stored[i][2] for i in read.calls],
                  [stored[i][1] for i in read.error_results if stored[i][0] != "api_action"])


def event_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """The in-memory event (kwargs as an object) a validator reads, from a stored event."""
    event = {k: v for k, v in row.items() if v is not None}
    if event.get("class_") == "api_action":
        try:
            event["kwargs"] = json.loads(event.get("kwargs") or "null")
        except ValueError:
            event["kwargs"] = None
    return event


def tool_row(spec: ToolSpec) -> Row:
    return tool_record(name=spec.name, description=spec.description, parameters=canonical_json(spec.parameters),
                       returns=canonical_json(spec.returns), domain=spec.domain, source=spec.source,
                       mutates=spec.mutates)


def tool_rows(domain: Domain, names: list[str]) -> list[Row]:
    """Specs are frozen: each is serialized once per domain, and every row offering it holds that one record (rows
    are never changed once made; `flows.row_arrow` converts each distinct tool once). The lists are the row's own:
    the offered tools differ from task to task (distractors), so a memo of whole lists would only grow."""
    made: dict[str, Row] = domain.memo("tool_records", dict)
    out = []
    for name in names:
        row = made.get(name)
        if row is None:
            row = made[name] = tool_row(domain.tool(name).spec)
        out.append(row)
    return out


def trajectory_row(*, row_id: str, task_id: str, family: str, domain: str, kind: str, shape: tuple[int, int, int],
                   query: str, content: list[dict[str, Any]] | Events, tools: list[Row], details: dict[str, Any],
                   ground_truth: Row, verification: Row, provenance: dict[str, Any]) -> Row:
    """The one place a dataset row is assembled (built tasks and imported records alike): what is read off the
    events (calls, failed calls, tools used) is computed here and nowhere else. `shape` is (depth, width, turns);
    `content` holds in-memory events (kwargs as objects), or `stored_events` of them; `provenance` has every field
    of the contract's but agentfab_version."""
    events = content if isinstance(content, Events) else stored_events(content)
    depth, width, turns = shape
    stamped = {**provenance, "agentfab_version": __version__}
    try:
        if len(stamped) != len(_PROVENANCE):
            raise KeyError
        stamped_row = _provenance_of(stamped)
    except KeyError:
        unknown, missing = sorted(stamped.keys() - set(_PROVENANCE)), sorted(set(_PROVENANCE) - stamped.keys())
        raise RowShapeError(f"row {row_id} does not fit the DatasetRow contract: provenance: "
                            f"unknown key(s) {unknown}; missing key(s) {missing}") from None
    functions = events.functions
    return (row_id, task_id, family, domain, kind, depth, width, turns, len(functions), len(events.errors),
            sorted({f for f in functions if isinstance(f, str)}), verification[_JUDGE_SCORE], query,
            ADP_SCHEMA_VERSION, events.stored, canonical_json(details), tools, ground_truth, verification,
            stamped_row)


# a plan step's, a user turn's and a task's fields that a row stores, read off its vars() at once (where a pydantic
# model keeps them: each attribute read of a model goes through its class's __getattr__ hook)
_step_fields = itemgetter("id", "tool", "bindings", "depends_on", "turn", "asks", "expect_error")
_turn_fields = itemgetter("text", "answer")
_task_fields = itemgetter("id", "family", "domain", "kind", "depth", "width", "user_turns", "tools", "needed_tools",
                          "plan", "results", "state_diff", "clarification", "expect_refusal", "declined",
                          "failure_outcome")


def dataset_row(*, row_id: str, task: Task, content: list[dict[str, Any]] | Events, verdict: Verdict, domain: Domain,
                provenance: dict[str, Any], dedup_key: str, reading: Reading | None = None) -> Row:
    """The row of a built task: its trajectory, ground truth and verdict. `reading`: one of `content` or of any
    events of `task` (it lends the canonical JSON the checks already wrote)."""
    (task_id, family, domain_name, kind, depth, width, turns, tools, needed_tools, plan, results, state_diff, c,
     expect_refusal, declined, failure_outcome) = _task_fields(vars(task))
    arguments = reading.plan_arguments(task) if reading is not None else [canonical_json(s.arguments) for s in plan]
    written = reading.result_texts(task) if reading is not None else {}  # `results` as the rollout wrote them
    texts, answers = zip(*map(_turn_fields, map(vars, turns)))
    ground_truth = (
        list(answers),
        [(i, tool, args, [f"{p}={r}" for p, r in sorted(bindings.items())] if bindings else [], depends_on, turn,
          written[i] if i in written else canonical_json(results.get(i)), asks, expect_error)
         for (i, tool, bindings, depends_on, turn, asks, expect_error), args
         in zip(map(_step_fields, map(vars, plan)), arguments)],
        [(table, key, None if before is None else canonical_json(before),
          None if after is None else canonical_json(after))
         for table, rows in sorted(state_diff.items()) for key, (before, after) in sorted(rows.items())]
        if state_diff else [],
        expect_refusal,
        *((c.param, c.question, c.reply, c.step, c.options) if c else (None, None, None, None, [])),
        list(texts), needed_tools, declined, failure_outcome)
    return trajectory_row(
        row_id=row_id, task_id=task_id, family=family, domain=domain_name, kind=kind,
        shape=(depth, width, len(turns)), query=texts[0],
        content=content if isinstance(content, Events) else stored_events(content, reading),
        tools=tool_rows(domain, tools),
        details={"task_id": task_id, "domain": domain_name, "kind": kind,
                 "world_seed": provenance["world_seed"], "world_offset": provenance.get("world_offset", 0)},
        ground_truth=ground_truth, verification=_verification(verdict, dedup_key), provenance=provenance)


def _verification(verdict: Verdict, dedup_key: str) -> Row:
    judgement = verdict.judgement
    return (verdict.passed, list(verdict.reasons), list(verdict.details), judgement.score, judgement.rationale,
            list(verdict.stages), dedup_key)


def raised_row(*, row_id: str, kind: str, domain: Domain, task: Task | None, failure: str,
               provenance: dict[str, Any]) -> Row:
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
        ground_truth=ground_truth_record(**{**EMPTY_GROUND_TRUTH, "answers": [[]]}),  # one (empty) turn: never phrased
        verification=_verification(verdict, ""), provenance=provenance)


DISTRIBUTED = ("domain", "kind", "depth", "width", "n_turns", "n_calls")  # columns the distributions count
_distributed_of = itemgetter(*(fields_at("").index(name) for name in DISTRIBUTED))
_TOOLS_USED = fields_at("").index("tools_used")


class Distributions:
    """Counts of accepted rows per value of the columns people filter on (and per tool used), row by row. A row's
    values are counted as one tuple (one count per row) and spread over the columns once, when asked for."""

    def __init__(self) -> None:
        # plain dicts: a Counter's item assignment goes through a Python-level slot (it defines __delitem__)
        self._rows: dict[tuple[Any, ...], int] = {}  # the DISTRIBUTED values of a row -> rows
        self._tools: dict[str, int] = {}

    def add(self, values: Iterable[Any], tools_used: Iterable[str]) -> None:
        """One row: its values of DISTRIBUTED, in that order, and the tools it used."""
        key, rows, tools = tuple(values), self._rows, self._tools
        rows[key] = rows.get(key, 0) + 1
        for tool in tools_used:
            tools[tool] = tools.get(tool, 0) + 1

    def add_record(self, row: Row) -> None:
        key, rows, tools = _distributed_of(row), self._rows, self._tools
        rows[key] = rows.get(key, 0) + 1
        for tool in row[_TOOLS_USED]:
            tools[tool] = tools.get(tool, 0) + 1

    def result(self) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter[str]] = {k: Counter() for k in DISTRIBUTED}
        columns = [counts[k] for k in DISTRIBUTED]
        for values, n in self._rows.items():
            for column, value in zip(columns, values):
                column[str(value)] += n
        counts["tools_used"] = Counter(self._tools)
        return {k: dict(sorted(v.items())) for k, v in counts.items()}


@dataclass
class ShardRows:
    """Stage 7: the rows and the funnel of one shard, written by `flows.shard` when the shard is complete, with its
    distributions and quality figures counted as the rows come."""

    accepted: list[Row] = field(default_factory=list)
    rejected: list[Row] = field(default_factory=list)
    # the stages each row went through, counted per distinct run of stages (a shard's rows take a handful) and
    # spread over the stages when the funnel is read
    _entered: dict[tuple[str, ...], int] = field(default_factory=dict)
    _rejected_at: dict[str, int] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)
    distributions: Distributions = field(default_factory=Distributions)
    tally: QualityTally = field(default_factory=lambda: QualityTally(ShardQuality()))

    def add(self, record: Record, provenance: dict[str, Any], row_id: str | None = None) -> None:
        verdict, task = record.verdict, record.task
        events = stored_events(record.content, record.reading)
        row = dataset_row(row_id=row_id or task.id, task=task, content=events, verdict=verdict,
                          domain=record.draft.world.domain, provenance=provenance, dedup_key=record.key,
                          reading=record.reading)
        entered, stages = self._entered, tuple(verdict.stages)
        entered[stages] = entered.get(stages, 0) + 1
        if verdict.passed:
            self.accepted.append(row)
            self.distributions.add_record(row)
            created = [key for rows in task.state_diff.values() for key, (before, _) in rows.items() if before is None]
            if verdict.facts is None:  # not counted by a ground-truth check: read off the row
                self.tally.add_row(record_dict(row))
            else:
                self.tally.add(task.domain, events.functions, events.errors, created, verdict.facts)
        else:
            stage = verdict.stage
            self._rejected_at[stage] = self._rejected_at.get(stage, 0) + 1
            self.reasons.update(verdict.reasons)
            self.rejected.append(row)
            if is_lint_rejected(provenance.get("negative"), verdict.reasons):
                self.tally.quality.template_lint_rejected_rows += 1

    def add_raised(self, draft: Draft, task: Task | None, raised: ToolRaised, provenance: dict[str, Any]) -> None:
        """The rejected row of a task a `{python: module}` tool raised on, counted in the funnel at `exec`."""
        self.rejected.append(raised_row(row_id=draft.task_id, kind=draft.kind, domain=draft.world.domain, task=task,
                                        failure=str(raised), provenance=provenance))
        self._entered[("schema", "exec")] = self._entered.get(("schema", "exec"), 0) + 1
        self._rejected_at["exec"] = self._rejected_at.get("exec", 0) + 1
        self.reasons[Reason.TOOL_RAISED] += 1

    @property
    def funnel(self) -> dict[str, dict[str, int]]:
        """Per stage, in STAGES' order: how many rows entered it and how many it rejected."""
        out = {s: {"entered": 0, "rejected": 0} for s in STAGES}
        for stages, n in self._entered.items():
            for stage in stages:
                out[stage]["entered"] += n
        for stage, n in self._rejected_at.items():
            out[stage]["rejected"] += n
        return out

    def quality(self) -> ShardQuality:
        """The quality figures of the rows added so far (flows.quality)."""
        return self.tally.result()
