"""Execution and ground truth: replay every call on a fresh world, then compare with what the task requires."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from agentfab.schemas.answers import flatten, mentioned
from agentfab.schemas.codes import Reason
from agentfab.schemas.tasks import Task
from agentfab.validators.reading import Reading, reading_of, turn_replies
from agentfab.validators.structure import Event, Failure
from agentfab.worlds.core import Store, Tool, ToolRaised, canonical_json, is_error

REFUSAL_MARKERS = ("can't", "cannot", "unable", "don't have", "no tool", "not able", "outside")


@dataclass
class Replay:
    calls: list[tuple[str, dict[str, Any], Any]] = field(default_factory=list)  # (tool, kwargs, replayed result)
    keys: list[str] = field(default_factory=list)  # canonical JSON of each call's kwargs
    failed: list[bool] = field(default_factory=list)  # each call's result is an error (`is_error`)
    state_diff: dict[str, Any] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)


def expected_errors(task: Task, arguments: list[str] | None = None) -> set[tuple[str, str, str]]:
    """(tool, arguments, error type) of the calls a failure task must see fail: a rule of the world, not a slip.
    `arguments`: the canonical JSON of each step's arguments when it is written already (a `Reading`'s)."""
    if arguments is None:
        return {(s.tool, canonical_json(s.arguments), s.expect_error) for s in task.plan if s.expect_error}
    return {(s.tool, a, s.expect_error) for s, a in zip(task.plan, arguments) if s.expect_error}


def replay(content: list[Event], tools: Mapping[str, Tool], store: Store,
           expected: set[tuple[str, str, str]] | frozenset = frozenset(), reading: Reading | None = None) -> Replay:
    """Re-execute every call in order on a fresh fork; each observation must equal the replayed result.
    A failed call is unrecovered unless a later call to the tool succeeds or the task `expected` that failure."""
    world = store.fork()
    out = Replay()
    read = reading_of(content, reading)
    observed = read.observed
    keys = read.call_keys
    written = read.written_from()
    calls, failed = out.calls, out.failed
    for i in read.calls:
        ev = content[i]
        function = ev.get("function")
        if function not in tools or i not in keys:  # keys: the calls whose kwargs are an object
            continue
        kwargs, key = ev["kwargs"], keys[i]
        try:
            value = tools[function].invoke(world, kwargs, key)
        except ToolRaised as exc:  # the user's tool code failed, not the trajectory: this row alone is rejected
            out.failures.append((Reason.TOOL_RAISED, f"content[{i}]: {exc}"))
            continue
        calls.append((function, kwargs, value))
        out.keys.append(key)
        failed.append(is_error(value))
        seen = observed.get(ev.get("tool_call_id"))
        if seen is None:
            continue
        # an observation written from a result equal to the one replayed says it (own tools are deterministic: the
        # same call on the same state returns equal values of the same types); else its text is compared
        source = written.get(id(seen)) if written else None
        if (source is None or source[0] is not seen or value != source[1]) and seen != canonical_json(value) \
                and not _same(seen, value):
            out.failures.append((Reason.OBSERVATION_MISMATCH,
                                 f"content[{i}]: {function} returned something else on replay"))
    if True in failed:
        for n, (name, _, value) in enumerate(calls):
            if not failed[n] or (name, out.keys[n], value["error"]["type"]) in expected:
                continue
            if not any(calls[m][0] == name and not failed[m] for m in range(n + 1, len(calls))):
                out.failures.append((Reason.ERROR_UNRECOVERED, f"{name} failed ({value['error']['message']}) and "
                                     "was never retried successfully"))
    out.state_diff = world.diff()
    return out


def _same(observed_text: str, value: Any) -> bool:
    if observed_text == canonical_json(value):
        return True
    try:
        return canonical_json(json.loads(observed_text)) == canonical_json(value)
    except ValueError:
        return False


def check_truth(task: Task, content: list[Event], rep: Replay) -> list[Failure]:
    return truth(task, content, rep)[0]


def truth(task: Task, content: list[Event], rep: Replay, reading: Reading | None = None
          ) -> tuple[list[Failure], tuple[int, int]]:
    """The ground-truth failures, and (asked, stated): how many fact values the turns ask for and how many of them
    the replies state (the quality figures reuse the count instead of reading every row again). Notes on the reading
    whether every fact was stated, when the replies were checked."""
    failures: list[Failure] = []
    n_asked = n_stated = 0
    read = reading_of(content, reading)
    calls = read.calls
    if task.expect_refusal:
        if calls:
            failures.append((Reason.UNEXPECTED_CALL, f"{len(calls)} call(s) although no offered tool fits"))
        final = (content[-1].get("content") or "").lower() if content else ""
        if not any(m in final for m in REFUSAL_MARKERS):
            failures.append((Reason.NO_REFUSAL, "the reply does not tell the user the request cannot be served"))
        return failures, (0, 0)
    if task.declined:
        final = (content[-1].get("content") or "").lower() if content else ""
        if not any(m in final for m in REFUSAL_MARKERS):
            failures.append((Reason.NO_REFUSAL, f"the reply does not decline the part no tool can do: {task.declined}"))
    made: list[tuple[str, str]] = []
    met: list[tuple[str, str, str]] = []
    for (name, _, value), key, error in zip(rep.calls, rep.keys, rep.failed):
        if error:
            met.append((name, key, value["error"]["type"]))
        else:
            made.append((name, key))
    unmatched_steps = []
    for step, arguments in zip(task.plan, read.plan_arguments(task)):  # pair each planned step with one
        wanted = (step.tool, arguments)                                  # successful call that does exactly it
        if step.expect_error:  # ... or, for a failure task's attempt, with the call that met the rule
            if (*wanted, step.expect_error) in met:
                met.remove((*wanted, step.expect_error))
            else:
                failures.append((Reason.MISSING_CALL, f"{step.id}: {step.tool} was never tried (it must meet "
                                 f"{step.expect_error} before any alternative)"))
            continue
        if wanted in made:
            made.remove(wanted)
        else:
            unmatched_steps.append(step)
    for step in unmatched_steps:
        same_tool = [m for m in made if m[0] == step.tool]
        if same_tool:
            made.remove(same_tool[0])
            failures.append((Reason.WRONG_ARGUMENTS, f"{step.id}: {step.tool} was called with {same_tool[0][1]}, "
                             f"the task needs {canonical_json(step.arguments)}"))
        else:
            failures.append((Reason.MISSING_CALL, f"{step.id}: {step.tool} was never called successfully"))
    replies = read.flat_turn_replies
    if task.clarification is not None:
        asked, found = check_clarification(task, content, read)
        failures += found
        replies = replies[1:] if asked else replies
    for t, turn in enumerate(task.user_turns):
        reply = replies[t] if t < len(replies) else ""
        stated = {v: mentioned(reply, v) for v in turn.answer}  # the facts are mostly the answer's values again
        missing = [v for v in turn.answer if not stated[v]]
        if missing:
            failures.append((Reason.WRONG_ANSWER, f"turn {t + 1}: the reply does not state {', '.join(missing)}"))
        fact_values = [v for f in turn.facts for v in f.values]
        for v in fact_values:
            if v not in stated:
                stated[v] = mentioned(reply, v)
        said = sum(map(stated.__getitem__, fact_values))
        n_asked += len(fact_values)
        n_stated += said
        if said < len(fact_values):  # a fact is left out when a value of it is not stated (and not already missing)
            left_out = [f"{f.step}.{f.field}" for f in turn.facts
                        if any(not stated[v] and v not in missing for v in f.values)]
            if left_out:
                failures.append((Reason.INCOMPLETE_ANSWER,
                                 f"turn {t + 1}: the reply leaves out {', '.join(left_out)}"))
    read.note_facts_stated(task, n_asked == n_stated)
    if (rep.state_diff or task.state_diff) and canonical_json(rep.state_diff) != canonical_json(task.state_diff):
        changed = sorted(f"{t}/{k}" for t, rows in rep.state_diff.items() for k in rows)
        expected = sorted(f"{t}/{k}" for t, rows in task.state_diff.items() for k in rows)
        failures.append((Reason.STATE_MISMATCH, f"changed {changed or 'nothing'}, expected {expected or 'nothing'}"))
    return failures, (n_asked, n_stated)


def check_clarification(task: Task, content: list[Event], reading: Reading | None = None
                        ) -> tuple[bool, list[Failure]]:
    """A clarify task's question and answer come before the first call that needs the value (after the calls of the
    steps before it); a call made with it before the user answered is a guess. An ambiguous reference's question
    offers every value it could mean. Returns (a question was asked before the first user answer, failures)."""
    c = task.clarification
    if c is None:
        return False, []
    read = reading_of(content, reading)
    tool = next((s.tool for s in task.plan if s.id == c.step), None)
    users = [i for i in read.observations if content[i].get("source") == "user"]
    answer = users[1] if len(users) > 1 else len(content)
    question = next((i for i in read.messages if i < answer), None)
    failures: list[Failure] = []
    if question is None or answer == len(content):
        failures.append((Reason.NO_CLARIFICATION, f"{c.param} was never asked for"))
    guessed = [i for i in read.calls if i < answer and content[i].get("function") == tool
               and isinstance(content[i].get("kwargs"), dict) and c.param in content[i]["kwargs"]]
    if guessed:
        failures.append((Reason.GUESSED_VALUE, f"content[{guessed[0]}]: {tool} was called with a {c.param} before "
                         "the user said which"))
    if question is not None and c.options:
        said = flatten(content[question].get("content") or "")
        left = [o for o in c.options if not mentioned(said, flatten(o))]
        if left:
            failures.append((Reason.NO_CLARIFICATION, f"the question does not offer {', '.join(left)}"))
    return question is not None, failures


def check_rules(task: Task, rep: Replay) -> list[Failure]:
    failures: list[Failure] = []
    seen: set[tuple[str, str]] = set()
    needed = set(task.needed_tools)
    for (name, _, _), text, error in zip(rep.calls, rep.keys, rep.failed):
        key = (name, text)
        if not error:
            if key in seen:
                failures.append((Reason.REPEATED_CALL, f"{name} was called twice with {text}"))
            seen.add(key)
        if name not in needed and not task.expect_refusal:
            failures.append((Reason.DISTRACTOR_CALL, f"{name} is offered but the task does not need it"))
    return failures
