"""Deliberately broken trajectories, each made in one known way, with the reason code that must catch it.

Behavioural perturbations change what the agent does and then really execute it (so the observations are honest
and only the ground-truth checks can tell); structural ones corrupt the record itself.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from agentfab.generators.rollouts import Event, OracleAgent, call, result
from agentfab.generators.values import PoolCache, render_value, sample_arguments
from agentfab.schemas.answers import mentions, replace_mentions
from agentfab.schemas.codes import Reason
from agentfab.schemas.tasks import Task
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
}
NEGATIVES = tuple(EXPECTED_CODE)

Perturb = Callable[[Task, list[Event], OracleAgent, random.Random], "list[Event] | None"]


def _calls(content: list[Event]) -> list[int]:
    return [i for i, e in enumerate(content) if e["class_"] == "api_action"]


def wrong_argument(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random) -> list[Event] | None:
    pools = PoolCache(agent.domain, agent.store)
    for step in rng.sample(task.plan, len(task.plan)):
        tool = agent.domain.tool(step.tool)
        free = [p for p in sorted(step.arguments) if p not in step.bindings]
        for _ in range(8):
            if not free:
                break
            param = free[rng.randrange(len(free))]
            value = sample_arguments(tool, pools, rng).get(param)
            if value is None or value == step.arguments[param]:
                continue
            plan = [s.model_copy(update={"arguments": {**s.arguments, param: value}}) if s.id == step.id else s
                    for s in task.plan]
            out = agent.roll_out(task.model_copy(update={"plan": plan}), rng).content
            if not any(is_error(_value(e)) for e in out if e.get("source") == "environment"):
                return out
    return None


def wrong_tool(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random) -> list[Event] | None:
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


def missing_call(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random) -> list[Event] | None:
    if not task.plan:
        return None
    dropped = task.plan[-1].id
    plan = [s for s in task.plan[:-1] if dropped not in s.depends_on]
    return agent.roll_out(task.model_copy(update={"plan": plan}), rng).content


def invented_answer(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random) -> list[Event] | None:
    """The reply to one turn states a value that no tool returned, in place of the true one."""
    turns = [t for t, turn in enumerate(task.user_turns) if turn.answer]
    if not turns or task.expect_refusal:
        return None
    t = turns[rng.randrange(len(turns))]
    value = task.user_turns[t].answer[rng.randrange(len(task.user_turns[t].answer))]
    reply_at = _reply_index(content, t, task.clarification is not None)
    if reply_at is None or not mentions(content[reply_at]["content"], value):
        return None
    fake = _alter(value, rng)
    out = [dict(e) for e in content]
    out[reply_at]["content"] = replace_mentions(out[reply_at]["content"], value, fake)
    return out


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


def extra_mutating_call(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random) -> list[Event] | None:
    if task.expect_refusal:
        return None  # calling anything at all is `ignored_refusal`
    rollout = agent.roll_out(task, rng)
    world = rollout.world
    pools = PoolCache(agent.domain, agent.store)
    mutating = [agent.domain.tool(n) for n in task.tools if agent.domain.tool(n).spec.mutates]
    for _ in range(16):
        if not mutating:
            return None
        tool = mutating[rng.randrange(len(mutating))]
        kwargs = sample_arguments(tool, pools, rng)
        before = canonical_json(world.diff())
        value = tool.invoke(world, kwargs)
        if not is_error(value) and canonical_json(world.diff()) != before:  # a call that really changed something
            cid = f"call_{len(_calls(rollout.content)) + 1}"
            out = rollout.content[:-1]
            out += [call(tool.name, kwargs, cid, "I will also make this change while I am at it."),
                    result(tool.name, value, cid), rollout.content[-1]]
            return out
    return None


def fabricated_observation(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random) -> list[Event] | None:
    obs = [i for i, e in enumerate(content) if e.get("source") == "environment"]
    if not obs:
        return None
    out = [dict(e) for e in content]
    i = obs[rng.randrange(len(obs))]
    value = _value(out[i])
    out[i]["content"] = canonical_json({"fabricated": True, **value} if isinstance(value, dict) else {"value": value})
    return out


def role_confusion(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random) -> list[Event] | None:
    obs = [i for i, e in enumerate(content) if e.get("source") == "environment"]
    if not obs:
        return None
    out = [dict(e) for e in content]
    out[obs[rng.randrange(len(obs))]]["source"] = "user"
    return out


def unknown_tool(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random) -> list[Event] | None:
    calls = _calls(content)
    if not calls:
        return None
    out = [dict(e) for e in content]
    i = calls[rng.randrange(len(calls))]
    out[i]["function"] = out[i]["function"] + "_v2"
    return out


def bad_arguments(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random) -> list[Event] | None:
    calls = [i for i in _calls(content) if content[i]["kwargs"]]
    if not calls:
        return None
    out = [dict(e) for e in content]
    i = calls[rng.randrange(len(calls))]
    kwargs = dict(out[i]["kwargs"])
    param = sorted(kwargs)[rng.randrange(len(kwargs))]
    kwargs[param] = [kwargs[param]]  # a list where the schema wants a scalar
    out[i]["kwargs"] = kwargs
    return out


def ignored_refusal(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random) -> list[Event] | None:
    if not task.expect_refusal:
        return None
    pools = PoolCache(agent.domain, agent.store)
    world = agent.store.fork()
    for name in rng.sample(task.tools, len(task.tools)):
        tool = agent.domain.tool(name)
        kwargs = sample_arguments(tool, pools, rng)
        value = tool.invoke(world, kwargs)
        if not is_error(value):
            return [content[0], call(name, kwargs, "call_1", "Let me try this tool anyway."),
                    result(name, value, "call_1"), {**content[-1], "content": "Here is what I found: " +
                                                     render_value(value)}]
    return None


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
}


def make_negative(task: Task, content: list[Event], agent: OracleAgent, rng: random.Random,
                  only: str | None = None) -> tuple[str, list[Event]] | None:
    """Apply one applicable perturbation (a seeded choice, or `only`); None if none applies to this task."""
    names = [only] if only else rng.sample(NEGATIVES, len(NEGATIVES))
    for name in names:
        out = PERTURBATIONS[name](task, content, agent, rng)
        if out is not None:
            return name, out
    return None


def _value(event: Event) -> Any:
    import json

    try:
        return json.loads(event.get("content") or "null")
    except ValueError:
        return None


def _alter(value: str, rng: random.Random) -> str:
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    chars = list(value)
    if digits:
        i = digits[rng.randrange(len(digits))]
        chars[i] = str((int(chars[i]) + rng.randint(1, 9)) % 10)
        return "".join(chars)
    return value[::-1] if value[::-1] != value else value + " (approx.)"
