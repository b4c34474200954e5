"""Agents acting in a fresh world. The oracle follows the task's plan, reasoning before each group of calls,
making independent calls in parallel, feeding results forward, and (optionally) recovering from a real error.

A trajectory is a list of ADP events as plain dicts (`class_` plus fields); api_action `kwargs` are dicts here and
become JSON text only when a row is written.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Collection

from agentfab.generators.call_order import IN_PLAN_ORDER, NO_TURN, SCHEDULES, by_chain
from agentfab.generators.facts import Said
from agentfab.generators.language import retold
from agentfab.generators.reasoning import Reasoner
from agentfab.generators.failures import alternative_reply, error_cause, failure_reply
from agentfab.generators.replies import reply
from agentfab.generators.values import PoolCache
from agentfab.schemas.tasks import PlanStep, Task
from agentfab.schemas.wording import join_words, noun, plural
from agentfab.worlds.core import Domain, Store, Tool, canonical_json, is_error

Event = dict[str, Any]

DECLINES = ("I can't {b}, though: none of my tools can do that.",
            "As for the other request, I'm not able to {b}; no tool I have supports it.")
REFUSALS = (  # {b}: the request said back to the user; {things}: what the offered tools work with
    "I'm sorry, but I can't {b}: none of the tools I have can do that.",
    "I can't {b}; that is outside what my tools support.",
    "Unfortunately I don't have a tool to {b}, so I can't do it.",
    "Sorry, I'm not able to {b}. The tools I have here work with {things}.",
    "I can't help with that: no tool I have can {b}. I can help with {things} instead.",
)


@dataclass
class Rollout:
    content: list[Event]
    n_calls: int = 0
    n_errors: int = 0
    world: Store | None = field(default=None, repr=False)
    # (task, {step id: canonical JSON of task.results[step id]}) for the steps whose observation the oracle wrote
    # from the task's own result (`known`): the replay and the row need those texts again
    # (`Reading.result_texts`), and take them from here instead of writing them again
    texts: tuple[Task, dict[str, str]] | None = field(default=None, repr=False)


def user(text: str) -> Event:
    return {"class_": "text_observation", "source": "user", "content": text}


def message(text: str, description: str | None = None) -> Event:
    return {"class_": "message_action", "content": text, "description": description}


def call(function: str, kwargs: dict[str, Any], call_id: str, description: str | None) -> Event:
    return {"class_": "api_action", "function": function, "kwargs": kwargs, "description": description,
            "tool_call_id": call_id}


def result(function: str, value: Any, call_id: str) -> Event:
    return observation(function, canonical_json(value), call_id)


def observation(function: str, text: str, call_id: str) -> Event:
    """A tool's result event, `text` the canonical JSON of the result."""
    return {"class_": "text_observation", "source": "environment", "content": text, "tool_call_id": call_id,
            "name": function}


def reply_parts(domain: Domain, steps: list[PlanStep], results: dict[str, Any], terminal: Collection[str],
                called: dict[str, dict[str, Any]] | None = None, in_order: bool = False) -> list[Said]:
    """What a reply to a turn states: every step whose facts were asked, and every final step, chain by chain.
    `called` holds the arguments each step was called with (resolved again from `results` where it does not);
    `in_order`: `steps` are in chain order already."""
    parts = []
    for step in by_chain(steps) if len(steps) > 1 and not in_order else steps:
        asks, sid = step.asks, step.id
        if asks or sid in terminal:
            tool, value = domain.tool(step.tool), results[sid]
            asks = asks or tool.asked(None, value)  # a step made without a request: its defaults
            args = called.get(sid) if called is not None else None
            parts.append(Said(tool, resolve(step, results) if args is None else args, value, tuple(asks)))
    return parts


def describe_answer(domain: Domain, steps: list[PlanStep], results: dict[str, Any], rng: random.Random) -> str:
    """The reply to a turn whose steps are `steps` (all of them final when no step says what it asks)."""
    return reply(reply_parts(domain, steps, results, {s.id for s in steps}), rng)


class OracleAgent:
    """Follows the plan with real executions; `recovery` is the chance of one wrong call that it then corrects."""

    def __init__(self, domain: Domain, store: Store, *, recovery: float = 0.0):
        self.domain = domain
        self.store = store
        self.recovery = recovery
        self.pools = PoolCache(domain, store)
        # a {python: module} tool is the user's code: it is always run, never taken as known
        self._runs_own = all(t.spec.source != "python" for t in domain.tools)

    def roll_out(self, task: Task, rng: random.Random, known: dict[str, Any] | None = None) -> Rollout:
        """The oracle's trajectory for `task`. `known`: the results the task's composition met calling its plan, in
        plan order, on this agent's seeded world (`Task.results`). While the rollout makes those calls in that
        order, each call's result is taken from there rather than run again (the same tool on the same state with
        the same arguments); the first call off that path (a mistyped one) makes the world for real, the calls
        taken so far run again first, and every later call runs. The rollout's `world` is then None unless made."""
        plan = task.plan
        schedule = None  # else each turn's calls are one round
        chained = expecting = later = False  # a step depends on one; expects an error; is of a turn after the first
        ordered = True  # no later turn's call comes first in the plan (the order composing met the calls in)
        reached = 0
        for s in plan:
            if s.depends_on:
                chained = True
            if s.expect_error:
                expecting = True
            if s.turn:
                later = True
                if s.turn < reached:
                    ordered = False
                reached = s.turn
            elif reached:
                ordered = False
        if chained:  # its rounds, as every plan of its shape has them
            shape = tuple([(s.id, s.turn, tuple(s.depends_on)) for s in plan])
            schedule = SCHEDULES[shape]
            if known is not None and not IN_PLAN_ORDER[shape]:
                known = None
        elif not ordered:
            known = None
        world = _World(self.domain, self.store, known if self._runs_own else None)
        out = Rollout(content=[])
        # the texts of the task's own results, as the observations taken from `known` write them
        texts: dict[str, str] | None = {} if world.known is not None and known is task.results else None
        results: dict[str, Any] = {}
        called: dict[str, dict[str, Any]] = {}  # step id -> the arguments it was (rightly) called with
        ids = iter(range(1, 10_000))
        thinker = Reasoner(self.domain, task.tools, task.needed_tools)
        tool_of = {s.id: s.tool for s in plan}
        for t, turn in enumerate(task.user_turns):
            out.content.append(user(turn.text))
            if task.expect_refusal:
                out.content.append(message(self._refusal(task, rng), thinker.refusal(task.declined, rng)))
                continue
            c = task.clarification if t == 0 else None
            if schedule is not None:
                turn_of = schedule.get(t, NO_TURN)
                steps = [plan[i] for i in turn_of.steps]
                groups = [[plan[i] for i in g] for g in turn_of.rounds]
            else:
                steps = [s for s in plan if s.turn == t] if later else plan if t == 0 else []
                groups = [steps] if steps else []
            for group in groups:
                if c is not None and any(s.id == c.step for s in group):  # ask right before the call that needs it
                    asked = self.domain.tool(tool_of[c.step])
                    out.content.append(message(c.question, thinker.before_question(asked, c.param, c.options)))
                    out.content.append(user(c.reply))
                    c = None
                called.update(self._call_group(group, world, results, out, ids, rng, tool_of, thinker, texts))
            failed = [s for s in steps if s.expect_error and is_error(results.get(s.id))] if expecting else None
            if schedule is None:  # (every step of a plan of one turn is final: `tool_of` holds their ids)
                parts = reply_parts(self.domain, [s for s in steps if s not in failed] if failed else steps, results,
                                    {s.id for s in steps} if later else tool_of, called)
            elif failed:
                parts = reply_parts(self.domain, [s for s in steps if s not in failed], results, turn_of.terminal,
                                    called)
            else:  # the turn's steps in the order a reply reads them
                parts = reply_parts(self.domain, [plan[i] for i in turn_of.by_chain], results, turn_of.terminal,
                                    called, in_order=True)
            text = reply(parts, rng)
            if failed:  # what failed and why, in the world's own words; then what was done instead, if anything
                f = failed[0]
                attempt = (self.domain.tool(f.tool), resolve(f, results))
                text = (alternative_reply(attempt, results[f.id], parts, rng) if parts
                        else failure_reply(*attempt, results[f.id], rng))
            if t == 0 and task.declined:  # the part no offered tool can do: said plainly, after what was done
                text += " " + DECLINES[rng._randbelow(len(DECLINES))].format(b=retold(task.declined))
            out.content.append(message(text, thinker.before_reply(parts, rng, results[failed[0].id] if failed else None)))
        out.world = world.store
        out.texts = (task, texts) if texts else None
        return out

    def _refusal(self, task: Task, rng: random.Random) -> str:
        """No offered tool fits: the request said back and, in some replies, what the offered tools work with."""
        things = _covered(self.domain, task.tools)
        shapes = REFUSALS if things else REFUSALS[:3]
        return shapes[rng._randbelow(len(shapes))].format(b=retold(task.declined or "do that"), things=things)

    def _call_group(self, group: list[PlanStep], world: "_World", results: dict[str, Any], out: Rollout,
                    ids: Any, rng: random.Random, tool_of: dict[str, str], thinker: Reasoner,
                    texts: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
        """Make one round of calls (and the retries of a mistyped one); returns each step's right arguments.
        `texts`: step id -> the observation's text, of each result taken from `world.known` (`Rollout.texts`)."""
        # (most steps are bound to no earlier result: their arguments as they are)
        args_of = {s.id: resolve(s, results) if s.bindings else dict(s.arguments) for s in group}
        reason = thinker.before_calls(group, args_of, results, tool_of, rng)
        for s in group:
            if s.depends_on:
                failed = [results[d] for s in group for d in s.depends_on if is_error(results.get(d))]
                if failed:  # the first attempt broke a rule of the world: take the alternative the user offered
                    reason = f"That did not work: {error_cause(failed[0])}. So I'll take the alternative you gave. " \
                        + reason
                break
        wrongs: list[dict[str, Any]] = []
        tried: list[Any] = []  # what each wrong call returned on a fresh fork, None where it wrote something
        slip = group[-1]  # the last of the group: its retry then runs in plan order, after the others
        # an expected error is a rule the world enforces, not a typo to correct
        if self.recovery and not (slip.expect_error if len(group) == 1 else any(s.expect_error for s in group)) \
                and rng.random() < self.recovery:
            attempts = 1
            while attempts < 3 and rng.random() < 0.3:  # sometimes the agent flails before getting it right
                attempts += 1
            wrongs, tried = self._wrong_calls(slip, args_of[slip.id], rng, attempts)
        # the group is made together as the thought says, the mistyped call among the others; it fails alone
        content = out.content
        pending = []  # (step, its id, its tool, the arguments it is called with, the call's id)
        for step in group:
            sid, name = step.id, step.tool  # (a plan step's fields are read through pydantic's attribute hook)
            args = wrongs[0] if wrongs and step is slip else args_of[sid]
            cid = f"call_{next(ids)}"
            content.append(call(name, args, cid, reason if not pending else None))
            pending.append((step, sid, name, args, cid))
        last = None  # what the slip's latest attempt returned
        tool_named = self.domain.tool
        known = world.known
        for step, sid, name, args, cid in pending:
            slipped = wrongs and step is slip
            if slipped:
                if known is not None and world.unchanged() and None not in tried:
                    # nothing taken so far wrote, nor did the typos: the state is the seeded one that each typo was
                    # tried on, so each typo returns what it returned there, and the path of known results goes on
                    value = last = tried[0]
                else:
                    value = last = tool_named(name).invoke(world.made(), args)
                    known = None
            elif known is not None:
                value = results[sid] = known[sid]
                world.taken.append((name, args))
            else:
                value = results[sid] = tool_named(name).invoke(world.store, args)  # type: ignore[arg-type]
            text = canonical_json(value)
            if texts is not None and known is not None and not slipped:
                texts[sid] = text
            content.append(observation(name, text, cid))
            out.n_errors += is_error(value)
        out.n_calls += len(pending)
        if not wrongs:
            return args_of
        tool = tool_named(slip.tool)
        right = args_of[slip.id]
        fed = {p: tool_of[ref.split(".", 1)[0]] for p, ref in slip.bindings.items() if ref.split(".", 1)[0] in tool_of}
        for i, (previous, args) in enumerate(zip(wrongs, [*wrongs[1:], right]), 1):  # each retry alone, saying
            cid = f"call_{next(ids)}"                                                 # what went wrong
            thought = thinker.after_error(tool, previous, right, last, rng, fed)
            out.content.append(call(slip.tool, args, cid, thought))
            if known is None:
                last = tool.invoke(world.store, args)  # type: ignore[arg-type]
                text = canonical_json(last)
            elif args is right:  # the step's own call, on the state it was composed on
                last = known[slip.id]
                world.taken.append((slip.tool, args))
                text = canonical_json(last)
                if texts is not None:
                    texts[slip.id] = text
            else:
                last = tried[i]
                text = canonical_json(last)
            out.content.append(observation(slip.tool, text, cid))
            out.n_calls += 1
            out.n_errors += is_error(last)
            if args is right:
                results[slip.id] = last
        return args_of

    def reason(self, group: list[PlanStep], args_of: dict[str, dict[str, Any]], rng: random.Random,
               offered: list[str] | None = None) -> str:
        """The thought before `group` (for callers outside a rollout, e.g. negatives adding a call)."""
        thinker = Reasoner(self.domain, offered or [t.name for t in self.domain.tools], [s.tool for s in group])
        return thinker.before_calls(group, args_of, {}, {}, rng)

    def _wrong_calls(self, step: PlanStep, args: dict[str, Any], rng: random.Random,
                     limit: int) -> tuple[list[dict[str, Any]], list[Any]]:
        """Up to `limit` arguments that pass the tool's schema but really fail (ids that do not exist), each with a
        typo in a different value; and what each returned on a fresh fork of the seeded world (None where the
        call wrote something, failing as it did)."""
        tool: Tool = self.domain.tool(step.tool)
        out: list[dict[str, Any]] = []
        tried: list[Any] = []
        for param in sorted(args):
            value = args[param]
            if not isinstance(value, str):
                continue
            for candidate in _near_misses(value, rng):
                wrong = {**args, param: candidate}
                if wrong in out:
                    continue
                fork = self.store.fork()
                got = tool.invoke(fork, wrong)
                # a call that breaks the tool's schema comes back as bad_value, so it is never taken for a typo
                if _not_found(got):
                    out.append(wrong)
                    tried.append(None if fork.changed() else got)
                    break  # one typo per value: a second miss of the same id is not what a real rollout shows
            if len(out) >= limit:
                return out, tried
        return out, tried


def _not_found(value: Any) -> bool:
    """A typo's call fails only because its id does not exist: one that reaches another real record (and is then
    refused by a rule, or worse would change it) is not a harmless slip to correct."""
    return is_error(value) and value["error"].get("type") == "not_found"


def _near_misses(value: str, rng: random.Random) -> list[str]:
    """Plausible typos of an id-like value: same shape, different digits."""
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    out = []
    for _ in range(4):
        if not digits:
            break
        chars = list(value)
        i = digits[rng._randbelow(len(digits))]  # the draws of rng.randrange(len(digits)), rng.randint(1, 9)
        chars[i] = str((int(chars[i]) + 1 + rng._randbelow(9)) % 10)
        out.append("".join(chars))
    if not digits:
        out.append(value[:-1] if len(value) > 1 else value + "x")
    return out


def resolve(step: PlanStep, results: dict[str, Any]) -> dict[str, Any]:
    """The step's arguments with bound values taken from the results the agent really observed."""
    args = dict(step.arguments)
    for param, ref in step.bindings.items():
        source, name = ref.split(".", 1)
        observed = results.get(source)
        if isinstance(observed, dict) and name in observed:
            args[param] = observed[name]
    return args


class _World:
    """A rollout's world: `store`, once made; until then (`known` given) the calls taken as known, in order."""

    __slots__ = ("domain", "seeded", "store", "known", "taken")

    def __init__(self, domain: Domain, seeded: Store, known: dict[str, Any] | None):
        self.domain, self.seeded, self.known = domain, seeded, known
        self.taken: list[tuple[str, dict[str, Any]]] = []
        self.store: Store | None = seeded.fork() if known is None else None

    def unchanged(self) -> bool:
        """Not made yet: is the world still its seeded state? Only a tool that mutates writes."""
        tool = self.domain.tool
        return not any([tool(name).spec.mutates for name, _ in self.taken])

    def made(self) -> Store:
        """The world for real, the calls taken as known so far run in it first; every later call runs too."""
        if self.store is None:
            self.store = self.seeded.fork()
            for name, args in self.taken:
                self.domain.tool(name).invoke(self.store, args)
            self.known = None
        return self.store


def _covered(domain: Domain, tools: list[str]) -> str:
    """What the offered tools work with, as a user would name it: "accounts, cards and customers"."""
    of_tool = domain.memo("covered", lambda: {t.name: frozenset(
        plural(noun(p["x-entity"])) for p in t.spec.parameters.get("properties", {}).values()
        if isinstance(p, dict) and str(p.get("x-entity", "")).endswith("_id")) for t in domain.tools})
    things = sorted(frozenset().union(*[of_tool[name] for name in tools]))
    return join_words(things[:3]) if things else ""
