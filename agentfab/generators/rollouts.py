"""Agents acting in a fresh world. The oracle follows the task's plan, reasoning before each group of calls,
making independent calls in parallel, feeding results forward, and (optionally) recovering from a real error.

A trajectory is a list of ADP events as plain dicts (`class_` plus fields); api_action `kwargs` are dicts here and
become JSON text only when a row is written.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from agentfab.generators.queries import answer_fields
from agentfab.generators.values import PoolCache, render_value
from agentfab.schemas.tasks import PlanStep, Task
from agentfab.worlds.core import Domain, Store, Tool, canonical_json, is_error

Event = dict[str, Any]

REFUSALS = (
    "I'm sorry, but none of the tools I have can do that, so I can't help with this request.",
    "I can't do that: it is outside what my available tools support.",
    "Unfortunately I don't have a tool for that request, so I cannot complete it.",
)


@dataclass
class Rollout:
    content: list[Event]
    n_calls: int = 0
    n_errors: int = 0
    world: Store | None = field(default=None, repr=False)


def user(text: str) -> Event:
    return {"class_": "text_observation", "source": "user", "content": text}


def message(text: str, description: str | None = None) -> Event:
    return {"class_": "message_action", "content": text, "description": description}


def call(function: str, kwargs: dict[str, Any], call_id: str, description: str | None) -> Event:
    return {"class_": "api_action", "function": function, "kwargs": kwargs, "description": description,
            "tool_call_id": call_id}


def result(function: str, value: Any, call_id: str) -> Event:
    return {"class_": "text_observation", "source": "environment", "content": canonical_json(value),
            "tool_call_id": call_id, "name": function}


def levels(steps: list[PlanStep]) -> list[list[PlanStep]]:
    """Group steps whose dependencies are met into rounds of parallel calls, in plan order."""
    done: set[str] = set()
    remaining = list(steps)
    rounds: list[list[PlanStep]] = []
    while remaining:
        ready = [s for s in remaining if all(d in done for d in s.depends_on)]
        if not ready:
            raise ValueError("plan has a dependency cycle or a dependency outside its turn")
        rounds.append(ready)
        done.update(s.id for s in ready)
        remaining = [s for s in remaining if s.id not in done]
    return rounds


READ_LEADS = ("Here is what I found", "I looked it up", "Here you go", "This is the result", "Found it")
WRITE_LEADS = ("Done", "All set", "That is done", "Completed")


def describe_answer(domain: Domain, steps: list[PlanStep], results: dict[str, Any], rng: random.Random) -> str:
    """The reply to a turn: the answer fields of each final result, with a lead-in that fits reads or writes."""
    parts = []
    for step in steps:
        tool = domain.tool(step.tool)
        value = results[step.id]
        facts = "; ".join(f"{name.replace('_', ' ')}: {render_value(value[name])}"
                          for name in answer_fields(tool, value))
        leads = WRITE_LEADS if tool.spec.mutates else READ_LEADS
        lead = leads[rng.randrange(len(leads))]
        subject = f" ({step.tool})" if len(steps) > 1 else ""
        parts.append(f"{lead}{subject}: {facts}." if facts else f"{lead}{subject}.")
    return " ".join(parts)


class OracleAgent:
    """Follows the plan with real executions; `recovery` is the chance of one wrong call that it then corrects."""

    def __init__(self, domain: Domain, store: Store, *, recovery: float = 0.0):
        self.domain = domain
        self.store = store
        self.recovery = recovery
        self.pools = PoolCache(domain, store)

    def roll_out(self, task: Task, rng: random.Random) -> Rollout:
        world = self.store.fork()
        out = Rollout(content=[], world=world)
        results: dict[str, Any] = {}
        ids = iter(range(1, 10_000))
        for t, turn in enumerate(task.user_turns):
            out.content.append(user(turn.text))
            if task.expect_refusal:
                out.content.append(message(REFUSALS[rng.randrange(len(REFUSALS))],
                                           "No offered tool fits this request, so I should not call any."))
                continue
            if t == 0 and task.clarification is not None:
                c = task.clarification
                out.content.append(message(c.question, f"The request does not say which {c.param} to use; I must ask."))
                out.content.append(user(c.reply))
            steps = [s for s in task.plan if s.turn == t]
            for group in levels_after(steps, results):
                self._call_group(group, world, results, out, ids, rng, {s.id: s.tool for s in task.plan})
            terminal = _terminal_steps(task, t)
            summary = describe_answer(self.domain, terminal, results, rng)
            out.content.append(message(summary, "I have every result the request asked for."))
        return out

    def _call_group(self, group: list[PlanStep], world: Store, results: dict[str, Any], out: Rollout,
                    ids: Any, rng: random.Random, tool_of: dict[str, str]) -> None:
        args_of = {s.id: resolve(s, results) for s in group}
        reason = self._reason(group, args_of, tool_of, rng)
        if self.recovery and rng.random() < self.recovery:
            wrong = self._wrong_call(group[0], args_of[group[0].id], world, rng)
            if wrong is not None:
                cid = f"call_{next(ids)}"
                out.content.append(call(group[0].tool, wrong, cid, reason))
                err = self.domain.tool(group[0].tool).invoke(world, wrong)
                out.content.append(result(group[0].tool, err, cid))
                out.n_calls += 1
                out.n_errors += 1
                reason = (f"That call failed ({err['error']['message']}): I used the wrong value. "
                          f"I will retry {group[0].tool} with the right one. " + reason)
        pending = []
        for i, step in enumerate(group):
            cid = f"call_{next(ids)}"
            out.content.append(call(step.tool, args_of[step.id], cid, reason if i == 0 else None))
            pending.append((step, cid))
        for step, cid in pending:
            value = self.domain.tool(step.tool).invoke(world, args_of[step.id])
            results[step.id] = value
            out.content.append(result(step.tool, value, cid))
            out.n_calls += 1
            out.n_errors += is_error(value)

    def _reason(self, group: list[PlanStep], args_of: dict[str, dict[str, Any]], tool_of: dict[str, str],
                rng: random.Random) -> str:
        """The thought shown before a group of calls: what each call is for and where its inputs come from."""
        parts = []
        for step in group:
            action = self.domain.tool(step.tool).spec.description.split(". ")[0].rstrip(".")
            action = action[:1].lower() + action[1:]
            fed = [f"the {ref.split('.', 1)[1].replace('_', ' ')} {render_value(args_of[step.id][p])} that "
                   f"{tool_of.get(ref.split('.', 1)[0], 'the earlier call')} returned"
                   for p, ref in sorted(step.bindings.items())]
            parts.append(f"call {step.tool} to {action}" + (f", using {' and '.join(fed)}" if fed else ""))
        if len(group) == 1:
            openers = ("I need to {p}.", "To do this, I'll {p}.", "I'll {p}.") + (("Next, I'll {p}.",) if fed else ())
            opener = openers[rng.randrange(len(openers))]
            return opener.format(p=parts[0])
        joined = "; ".join(parts)
        return (f"These {len(group)} calls do not depend on each other, so I will make them in parallel: {joined}.")

    def _wrong_call(self, step: PlanStep, args: dict[str, Any], world: Store, rng: random.Random) -> dict | None:
        """Arguments that pass the tool's schema but really fail (an id that does not exist, say), or None."""
        tool: Tool = self.domain.tool(step.tool)
        for param in sorted(args):
            value = args[param]
            if not isinstance(value, str):
                continue
            for candidate in _near_misses(value, rng):
                wrong = {**args, param: candidate}
                if tool.check(wrong) is None and is_error(tool.invoke(self.store.fork(), wrong)):
                    return wrong
        return None


def _near_misses(value: str, rng: random.Random) -> list[str]:
    """Plausible typos of an id-like value: same shape, different digits."""
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    out = []
    for _ in range(4):
        if not digits:
            break
        chars = list(value)
        i = digits[rng.randrange(len(digits))]
        chars[i] = str((int(chars[i]) + rng.randint(1, 9)) % 10)
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


def levels_after(steps: list[PlanStep], results: dict[str, Any]) -> list[list[PlanStep]]:
    """`levels` where dependencies answered in earlier turns count as met."""
    trimmed = [s.model_copy(update={"depends_on": [d for d in s.depends_on if d not in results]}) for s in steps]
    originals = {s.id: s for s in steps}
    return [[originals[s.id] for s in group] for group in levels(trimmed)]


def _terminal_steps(task: Task, turn: int) -> list[PlanStep]:
    """Steps of this turn whose results no later step of the same turn consumes."""
    in_turn = [s for s in task.plan if s.turn == turn]
    used = {d for s in in_turn for d in s.depends_on}
    return [s for s in in_turn if s.id not in used]
