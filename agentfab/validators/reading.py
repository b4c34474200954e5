"""One reading of a trajectory's events, shared by every check of a record.

The checks of a record (structure, replay, ground truth, rules, the judge, dedup) and the value bank of the
negatives each used to walk the events again, parse the same results, flatten the same replies and write the same
call arguments as canonical JSON. A `Reading` computes each of those once for the stages of one
record. It only reads: the replay on a fresh world stays the check's own, and a check that is given no reading
makes one (the same answers, computed for it alone). The events must not change while a reading of them is in use.
"""

from __future__ import annotations

from typing import Any

from agentfab.schemas.answers import flatten
from agentfab.schemas.codes import Reason
from agentfab.schemas.tasks import Task
from agentfab.worlds.core import canonical_json

Event = dict[str, Any]

# The fields of an event as a row stores them, in the row contract's order (flows.rows checks it when it loads)
STORED_FIELDS = ("class_", "content", "function", "kwargs", "description", "tool_call_id", "source", "name",
                 "language")

class Reading:
    """What the checks read off `content`; the ground-truth check notes whether every fact was stated.
    One pass when it is made finds the events' indices by kind, the events' own failures (`event_failures`: ADP
    validity, roles, the pairing of calls and results, what `structure.check_events` reports), the canonical JSON of
    every call's arguments and the replies, which every record's checks read; the rest is computed on first use
    (plain attributes: functools.cached_property takes a lock on every read)."""

    __slots__ = ("content", "_facts", "call_keys", "replies", "turn_replies", "_flat", "_plan",
                 "calls", "messages", "observations", "results", "spoken", "from_environment", "from_user",
                 "error_results", "event_failures", "stored", "silent_groups", "observed", "_texts")

    def __init__(self, content: list[Event], texts: tuple[Task, dict[str, str]] | None = None):
        """`texts`: (task, {step id: canonical JSON of task.results[step id]}) as far as they are written already
        (the oracle's observations were written from them: `rollouts.Rollout.texts`)."""
        self.content = content
        self._facts: tuple[Task, bool] | None = None  # (task, every fact of each turn stated in that turn's reply)
        self._flat: list[str] | None = None
        self._plan: tuple[Task, list[str]] | None = None
        self._texts = texts
        # indices of the events by kind, found in one pass: each check used to walk the events for its own
        self.calls: list[int] = []  # api_action
        self.messages: list[int] = []  # message_action (messages to the user)
        self.observations: list[int] = []  # text_observation, from any source
        self.results: list[int] = []  # text_observation from the environment (tool results)
        self.spoken: list[int] = []  # what a person reads or writes: messages and the user's turns, in order
        self.from_environment: list[int] = []  # any event whose source is the environment (whatever its class_)
        self.from_user: list[int] = []  # any event whose source is the user
        # any event from the environment whose content opens as an error result does ('{"error"'): the judge reads
        # the message of each failed call, which most records have none of
        self.error_results: list[int] = []
        # canonical JSON of each call's arguments, by event index (calls whose kwargs are an object)
        self.call_keys: dict[int, str] = {}
        # each tool result's text by its tool_call_id (the last result where an id is answered twice): what the
        # replay compares each call's replayed result with
        self.observed: dict[Any, str | None] = {}
        # calls that open a group (the event before is no call) with no reasoning (an empty or blank description):
        # the judge marks each down
        self.silent_groups = 0
        self.replies: list[str] = []  # every message to the user, clarifying questions included
        # the agent's last message before each following user turn (clarifying questions are not replies)
        self.turn_replies: list[str] = []
        # each event's fields in STORED_FIELDS' order, a call's kwargs as its canonical JSON: the row's events
        # (flows.rows.stored_events), read in this pass rather than in another one when the row is made
        stored: list[tuple[Any, ...]] = []
        self.stored = stored
        failures: list[tuple[str, str]] = []
        self.event_failures = failures
        if not content:
            failures.append((Reason.INVALID_EVENT, "the trajectory has no events"))
            return
        calls, messages, observations, results = self.calls, self.messages, self.observations, self.results
        spoken, keys, replies, turns = self.spoken, self.call_keys, self.replies, self.turn_replies
        observed = self.observed
        last: str | None = None  # the latest message since the last user turn
        pending: dict[str, int] = {}  # tool_call_id -> index of the call still waiting for its result
        seen: set[str] = set()
        cls = None
        for i, e in enumerate(content):
            before, cls = cls, e.get("class_")
            source = e.get("source")
            text = e.get("content")
            if source == "environment":
                self.from_environment.append(i)
                if isinstance(text, str) and text.startswith('{"error"'):
                    self.error_results.append(i)
            elif source == "user":
                self.from_user.append(i)
            if cls == "api_action":
                calls.append(i)
                function, kwargs, cid = e.get("function"), e.get("kwargs"), e.get("tool_call_id")
                as_stored = kwargs  # an object is stored as its canonical JSON
                if isinstance(kwargs, dict):
                    as_stored = keys[i] = canonical_json(kwargs)
                description = e.get("description")
                stored.append((cls, text, function, as_stored, description, cid, source, e.get("name"),
                               e.get("language")))
                if before != "api_action" and not (description or "").strip():
                    self.silent_groups += 1
                if function is None or kwargs is None:
                    failures.append(_invalid(i, cls))
                    continue
                if i not in keys:
                    failures.append((Reason.INVALID_EVENT, f"content[{i}]: kwargs must be an object"))
                if not cid:
                    failures.append((Reason.ORPHAN_RESULT,
                                     f"content[{i}]: call to {e['function']} has no tool_call_id"))
                elif cid in seen:
                    failures.append((Reason.DUPLICATE_CALL_ID, f"content[{i}]: tool_call_id {cid} is used twice"))
                else:
                    seen.add(cid)
                    pending[cid] = i
                continue
            stored.append((cls, text, e.get("function"), e.get("kwargs"), e.get("description"),
                           e.get("tool_call_id"), source, e.get("name"), e.get("language")))
            if cls == "message_action":
                messages.append(i)
                spoken.append(i)
                last = text or ""
                replies.append(last)
                if text is None:
                    failures.append(_invalid(i, cls))
                elif pending:
                    failures.append((Reason.TURN_ORDER,
                                     f"content[{i}]: the agent replies while calls are unanswered"))
            elif cls == "text_observation":
                observations.append(i)
                cid = e.get("tool_call_id")
                if source == "environment":
                    results.append(i)
                    observed[cid] = text
                elif source == "user":
                    spoken.append(i)
                    if last is not None:
                        turns.append(last)
                    last = None
                if source is None or text is None:
                    failures.append(_invalid(i, cls))
                    continue
                if source == "user":
                    if cid is not None:
                        failures.append((Reason.ROLE_CONFUSION,
                                         f"content[{i}]: a user turn carries tool_call_id {cid}"))
                    if pending:
                        failures.append((Reason.TURN_ORDER, f"content[{i}]: user speaks while calls are unanswered"))
                elif source == "environment":
                    if cid is None:
                        failures.append((Reason.ROLE_CONFUSION, f"content[{i}]: environment text without tool_call_id"))
                    elif cid not in pending:
                        failures.append((Reason.ORPHAN_RESULT,
                                         f"content[{i}]: result for {cid}, which no pending call made"))
                    else:
                        del pending[cid]
                else:
                    failures.append((Reason.ROLE_CONFUSION, f"content[{i}]: observation from {source!r}"))
            elif cls != "code_action" or e.get("language") is None or text is None:
                failures.append(_invalid(i, cls))
        if last is not None:
            turns.append(last)
        for cid, i in pending.items():
            failures.append((Reason.UNANSWERED_CALL, f"content[{i}]: call {cid} never gets a result"))
        if content[0].get("class_") != "text_observation" or content[0].get("source") != "user":
            failures.append((Reason.TURN_ORDER, "the trajectory does not open with a user turn"))
        if content[-1].get("class_") != "message_action":
            failures.append((Reason.NO_FINAL_ANSWER, "the last event is not a message to the user"))

    @property
    def flat_turn_replies(self) -> list[str]:
        if self._flat is None:
            self._flat = [flatten(r) for r in self.turn_replies]
        return self._flat

    def note_facts_stated(self, task: Task, stated: bool) -> None:
        """The ground-truth check found every fact value of each turn of `task` stated in that turn's reply (or not)."""
        self._facts = (task, stated)

    def all_facts_stated(self, task: Task) -> bool | None:
        """What the ground-truth check found for `task` (None: it has not read these events against that task)."""
        return self._facts[1] if self._facts is not None and self._facts[0] is task else None

    def plan_arguments(self, task: Task) -> list[str]:
        """Canonical JSON of the arguments of each step of `task` (the record's task: truth and dedup read them)."""
        if self._plan is None or self._plan[0] is not task:
            self._plan = (task, [canonical_json(s.arguments) for s in task.plan])
        return self._plan[1]

    def result_texts(self, task: Task) -> dict[str, str]:
        """The canonical JSON of values of `task.results` by step id, as far as they were written before this
        reading was made (the oracle's observations are written from them: `rollouts.Rollout.texts`); {} if none."""
        given = self._texts
        return given[1] if given is not None and given[0] is task else {}

    def written_from(self) -> dict[int, tuple[str, Any]]:
        """id(text) -> (text, the result value it is the canonical JSON of), for the texts given to this reading: an
        observation whose content is one of those very strings was written from that value (the replay compares
        the value it gets again with it, not a text written again)."""
        given = self._texts
        if given is None:
            return {}
        results = given[0].results
        return {id(text): (text, results[k]) for k, text in given[1].items()}


def _invalid(i: int, cls: Any) -> tuple[str, str]:
    return Reason.INVALID_EVENT, f"content[{i}] is not a valid ADP event: class_={cls!r}"


def turn_replies(content: list[Event]) -> list[str]:
    """The agent's last message before each following user turn (clarifying questions are not replies)."""
    replies: list[str] = []
    last: str | None = None
    for ev in content:
        if ev.get("class_") == "text_observation" and ev.get("source") == "user":
            if last is not None:
                replies.append(last)
            last = None
        elif ev.get("class_") == "message_action":
            last = ev.get("content") or ""
    if last is not None:
        replies.append(last)
    return replies


def reading_of(content: list[Event], reading: Reading | None) -> Reading:
    """`reading` when it reads `content`, else a new one."""
    return reading if reading is not None and reading.content is content else Reading(content)


def kwargs_text(reading: Reading, i: int, kwargs: Any) -> str:
    """Canonical JSON of the arguments of call `i` (read once per record)."""
    found = reading.call_keys.get(i)
    return found if found is not None else canonical_json(kwargs)
