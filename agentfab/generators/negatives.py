"""Deliberately broken trajectories, each made in one known way, with the reason code that must catch it.

Behavioural perturbations change what the agent does and then really execute it (so the observations are honest
and only the ground-truth checks can tell); structural ones corrupt the record itself. Neither may give itself
away: a wrong value is a real value of the same field seen in accepted data (`ValueBank`), a fabricated result is
schema-valid, an unknown tool is a real tool name that was not offered, and `make_negative` prefers a perturbation
whose every token already occurs in accepted data (`value_bank`).
"""

from __future__ import annotations

import random
from typing import Any, Callable

from agentfab.generators.rollouts import Event, OracleAgent, call, describe_answer, result
from agentfab.generators.value_bank import ValueBank, parsed
from agentfab.generators.values import normalize, render_value, sample_arguments
from agentfab.schemas.answers import mentions, replace_mentions
from agentfab.schemas.codes import Reason
from agentfab.schemas.tasks import PlanStep, Task, described_by
from agentfab.schemas.wording import yes_no_predicate
from agentfab.worlds.core import canonical_json, is_error

# perturbation -> the reason code the validators must report for it
EXPECTED_CODE: dict[str, str] = {
    "wrong_argument": Reason.WRONG_ARGUMENTS,
    "wrong_tool": Reason.DISTRACTOR_CALL,
    "missing_call": Reason.MISSING_CALL,
    "invented_answer": Reason.WRONG_ANSWER,
    "extra_mutating_call": Reason.STATE_MISMATCH,
    "fabricated_observation": Reason.OBSERVATION_MISMATCH,
    "role_confusion": Reason.ROLE_CONFUSION,
    "unknown_tool": Reason.UNKNOWN_TOOL,
    "bad_arguments": Reason.BAD_ARGUMENTS,
    "ignored_refusal": Reason.UNEXPECTED_CALL,
    "guessed_value": Reason.GUESSED_VALUE,
}
NEGATIVES = tuple(EXPECTED_CODE)

Perturb = Callable[[Task, list[Event], OracleAgent, random.Random, ValueBank], "list[Event] | None"]


def _calls(content: list[Event]) -> list[int]:
    return [i for i, e in enumerate(content) if e["class_"] == "api_action"]


def wrong_argument(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                   bank: ValueBank) -> list[Event] | None:
    """One free argument of one step takes another real value of that parameter; the call still succeeds."""
    # the agent's pools, drawn once from its seeded state: a task's world (the state at an id offset) has the same
    # records, and the agent draws its own wrong calls from them too
    pools = agent.pools
    expected = sum(1 for s in task.plan if s.expect_error)  # a failure task's attempt must still fail as planned
    for step in rng.sample(task.plan, len(task.plan)):
        if step.expect_error:
            continue
        tool = agent.domain.tool(step.tool)
        for param in rng.sample(sorted(step.arguments), len(step.arguments)):
            if param in step.bindings:
                continue
            seen = bank.values(step.tool, param, step.arguments[param])
            drawn = sample_arguments(tool, pools, rng).get(param)
            candidates = rng.sample(seen, min(4, len(seen))) + ([drawn] if drawn is not None else [])
            for value in candidates:
                if value == step.arguments[param]:
                    continue
                plan = [s.model_copy(update={"arguments": {**s.arguments, param: value}}) if s.id == step.id else s
                        for s in task.plan]
                out = agent.roll_out(task.model_copy(update={"plan": plan}), rng).content
                if sum(is_error(_value(e)) for e in out if e.get("source") == "environment") == expected:
                    return out
    return None


def wrong_tool(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
               bank: ValueBank) -> list[Event] | None:
    if not task.plan:
        return None
    step = task.plan[-1]
    for other in rng.sample(task.tools, len(task.tools)):
        if other in task.needed_tools:
            continue
        tool = agent.domain.tool(other)
        if tool.check(step.arguments) is None and not is_error(tool.invoke(agent.store.fork(), step.arguments)):
            plan = [*task.plan[:-1], step.model_copy(update={"tool": other})]
            return agent.roll_out(task.model_copy(update={"plan": plan}), rng).content
    return None


def missing_call(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                 bank: ValueBank) -> list[Event] | None:
    if not task.plan:
        return None
    dropped = task.plan[-1].id
    plan = [s for s in task.plan[:-1] if dropped not in s.depends_on]
    return agent.roll_out(task.model_copy(update={"plan": plan}), rng).content


def invented_answer(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                    bank: ValueBank) -> list[Event] | None:
    """The reply to one turn states another real value of the same field in place of the true one."""
    turns = [t for t, turn in enumerate(task.user_turns) if turn.answer]
    if not turns or task.expect_refusal:
        return None
    t = turns[rng.randrange(len(turns))]
    value = task.user_turns[t].answer[rng.randrange(len(task.user_turns[t].answer))]
    reply_at = _reply_index(content, t, task.clarification is not None)
    if reply_at is None or not mentions(content[reply_at]["content"], value):
        return None
    described = described_by(task.plan, lambda tool: agent.domain.tool(tool).spec.returns)
    for step in task.plan:  # which result field the value is, so the stand-in is a value of that same field
        found = task.results.get(step.id)
        if not isinstance(found, dict):
            continue
        for name, v in found.items():
            if type(v) is bool:  # "the club does not have a pool" says "has a pool" instead
                said = [yes_no_predicate(described(step.id, name), name, b) for b in (v, not v)]
                if normalize(said[0]) == value:
                    out = [dict(e) for e in content]
                    out[reply_at]["content"] = replace_mentions(out[reply_at]["content"], value, said[1])
                    return out
                continue
            if isinstance(v, (list, dict)) or normalize(v) != value:
                continue
            others = [o for o in bank.values(step.tool, name, v) if normalize(o) != value]
            if others:
                fake = render_value(others[rng.randrange(len(others))])
                out = [dict(e) for e in content]
                out[reply_at]["content"] = replace_mentions(out[reply_at]["content"], value, fake)
                return out
    return None


def _reply_index(content: list[Event], turn: int, clarified: bool) -> int | None:
    """Index of the agent's reply to user turn `turn`: its last message before the next user turn."""
    replies: list[int] = []
    last = None
    for i, e in enumerate(content):
        if e["class_"] == "text_observation" and e.get("source") == "user":
            if last is not None:
                replies.append(last)
            last = None
        elif e["class_"] == "message_action":
            last = i
    if last is not None:
        replies.append(last)
    if clarified:
        replies = replies[1:]  # the clarifying question is not a reply
    return replies[turn] if turn < len(replies) else None


def extra_mutating_call(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                        bank: ValueBank) -> list[Event] | None:
    """One more change nobody asked for: a mutating call seen in accepted data, really executed."""
    if task.expect_refusal:
        return None  # calling anything at all is `ignored_refusal`
    rollout = agent.roll_out(task, rng)
    world = rollout.world
    pools = agent.pools
    mutating = [agent.domain.tool(n) for n in task.tools if agent.domain.tool(n).spec.mutates]
    for _ in range(16):
        if not mutating:
            return None
        tool = mutating[rng.randrange(len(mutating))]
        seen = bank.calls(tool.name)
        kwargs = seen[rng.randrange(len(seen))] if seen and rng.random() < 0.9 else sample_arguments(tool, pools, rng)
        before = canonical_json(world.diff())
        value = tool.invoke(world, kwargs)
        if not is_error(value) and canonical_json(world.diff()) != before:  # a call that really changed something
            cid = f"call_{len(_calls(rollout.content)) + 1}"
            step = PlanStep(id="extra", tool=tool.name, arguments=kwargs)
            reason = agent.reason([step], {step.id: kwargs}, rng, task.tools)
            out = rollout.content[:-1]
            out += [call(tool.name, kwargs, cid, reason), result(tool.name, value, cid), rollout.content[-1]]
            return out
    return None


def fabricated_observation(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                           bank: ValueBank) -> list[Event] | None:
    """One field of one tool result holds another real value of that field: schema-valid, plausible, untrue."""
    names = {e.get("tool_call_id"): e.get("function") for e in content if e["class_"] == "api_action"}
    obs = [i for i, e in enumerate(content) if e.get("source") == "environment"]
    for i in rng.sample(obs, len(obs)):
        value = _value(content[i])
        tool = names.get(content[i].get("tool_call_id"))
        if not isinstance(value, dict) or is_error(value) or tool is None:
            continue
        fields = [f for f, v in value.items() if not isinstance(v, (list, dict)) and bank.has_other(tool, f, v)]
        if not fields:
            continue
        name = fields[rng.randrange(len(fields))]
        others = bank.values(tool, name, value[name])
        out = [dict(e) for e in content]
        out[i]["content"] = canonical_json({**value, name: others[rng.randrange(len(others))]})
        return out
    return None


def role_confusion(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                   bank: ValueBank) -> list[Event] | None:
    obs = [i for i, e in enumerate(content) if e.get("source") == "environment"]
    if not obs:
        return None
    out = [dict(e) for e in content]
    out[obs[rng.randrange(len(obs))]]["source"] = "user"
    return out


def unknown_tool(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                 bank: ValueBank) -> list[Event] | None:
    """A call names a real tool of the domain that was not offered with this task."""
    calls = _calls(content)
    hidden = sorted(t.name for t in agent.domain.tools if t.name not in task.tools)
    if not calls or not hidden:
        return None
    out = [dict(e) for e in content]
    i = calls[rng.randrange(len(calls))]
    out[i]["function"] = hidden[rng.randrange(len(hidden))]
    return out


def bad_arguments(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                  bank: ValueBank) -> list[Event] | None:
    """A call leaves out a required argument."""
    def required(i: int) -> list[str]:
        spec = agent.domain.tool(content[i]["function"]).spec
        return [p for p in spec.parameters.get("required", []) if p in content[i]["kwargs"]]

    calls = [i for i in _calls(content) if required(i)]
    if not calls:
        return None
    out = [dict(e) for e in content]
    i = calls[rng.randrange(len(calls))]
    names = required(i)
    dropped = names[rng.randrange(len(names))]
    out[i]["kwargs"] = {k: v for k, v in out[i]["kwargs"].items() if k != dropped}
    return out


def ignored_refusal(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                    bank: ValueBank) -> list[Event] | None:
    """No offered tool fits, yet the agent calls one (with arguments seen in accepted data) and reports it."""
    if not task.expect_refusal:
        return None
    pools = agent.pools
    first = None
    names = rng.sample(task.tools, len(task.tools))  # reads first (a write would make a new id), tools seen first
    names.sort(key=lambda n: (agent.domain.tool(n).spec.mutates, not bank.has_calls(n)))
    for name in names:
        tool = agent.domain.tool(name)
        seen = bank.calls(name)
        for kwargs in rng.sample(seen, min(6, len(seen))) or [sample_arguments(tool, pools, rng)]:
            value = tool.invoke(agent.store.fork(), kwargs)
            if is_error(value):
                continue
            step = PlanStep(id="s1", tool=name, arguments=kwargs)
            reason = agent.reason([step], {step.id: kwargs}, rng, task.tools)
            reply = describe_answer(agent.domain, [step], {step.id: value}, rng)
            out = [content[0], call(name, kwargs, "call_1", reason), result(name, value, "call_1"),
                   {**content[-1], "content": reply}]
            if not bank.unseen(out):
                return out
            first = first or out
    return None if bank.has_data else first  # with accepted data to compare, only a call that gives nothing away


def guessed_value(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                  bank: ValueBank) -> list[Event] | None:
    """A clarify task where the agent never asks: it goes on with the value it was never given (the right one, as a
    lucky guess would be), so only the clarification check can tell."""
    if task.clarification is None:
        return None
    users = [i for i, e in enumerate(content) if e.get("source") == "user"]
    question = next((i for i in range(users[0] + 1, users[1]) if content[i]["class_"] == "message_action"), None) \
        if len(users) > 1 else None
    if question is None:
        return None
    return [e for i, e in enumerate(content) if i not in (question, users[1])]


PERTURBATIONS: dict[str, Perturb] = {
    "wrong_argument": wrong_argument,
    "wrong_tool": wrong_tool,
    "missing_call": missing_call,
    "invented_answer": invented_answer,
    "extra_mutating_call": extra_mutating_call,
    "fabricated_observation": fabricated_observation,
    "role_confusion": role_confusion,
    "unknown_tool": unknown_tool,
    "bad_arguments": bad_arguments,
    "ignored_refusal": ignored_refusal,
    "guessed_value": guessed_value,
}


def make_negative(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                  only: str | None = None, bank: ValueBank | None = None) -> tuple[str, list[Event]] | None:
    """Apply one applicable perturbation (a seeded choice, or `only`); None if none applies to this task.

    With a `bank` of accepted data, a perturbation whose text adds no token unseen there is preferred; the first
    applicable one is the fallback.
    """
    bank = bank if bank is not None else ValueBank()
    known = bank.has_data
    names = [only] if only else rng.sample(NEGATIVES, len(NEGATIVES))
    fallback = None
    for name in names:
        out = PERTURBATIONS[name](task, content, agent, rng, bank)
        if out is None:
            continue
        if not known or not bank.unseen(out):
            return name, out
        fallback = fallback or (name, out)
    return fallback


def _value(event: Event) -> Any:
    return parsed(event.get("content"))
