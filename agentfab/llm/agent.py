"""The LLM agent: a real rollout with `tools=`. Every call (parallel ones too) is executed by the caller's
`execute` on the task's world, errors come back as observations, the simulated (or scripted) user answers the
agent's messages, and the result is an ADP trajectory for the same validators as an oracle's."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from agentfab.llm.client import LLMError, RoleClient
from agentfab.llm.prompts import prompt
from agentfab.schemas.codes import Reason
from agentfab.schemas.tools import ToolSpec

Event = dict[str, Any]
Execute = Callable[[str, dict[str, Any]], "str | Awaitable[str]"]  # (tool name, arguments) -> observation text
NextUser = Callable[[list[dict[str, Any]]], Awaitable[str | None]]  # conversation so far -> next user text or None


@dataclass
class AgentRun:
    content: list[Event] = field(default_factory=list)
    code: str | None = None  # exec.llm_failed, rule.max_steps: why the rollout stopped early
    detail: str = ""
    steps: int = 0


def openai_tools(specs: list[ToolSpec]) -> list[dict[str, Any]]:
    return [s.openai_tool() for s in specs]


def _arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    if isinstance(raw, dict):
        return raw, None
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}, f"the arguments are not valid JSON: {str(raw)[:200]!r}"
    if not isinstance(value, dict):
        return {}, "the arguments are not a JSON object"
    return value, None


async def run_agent(client: RoleClient, first: str, tools: list[dict[str, Any]], execute: Execute,
                    next_user: NextUser, max_steps: int = 12) -> AgentRun:
    run = AgentRun(content=[{"class_": "text_observation", "source": "user", "content": first}])
    messages: list[dict[str, Any]] = [{"role": "system", "content": prompt("agent").text},
                                      {"role": "user", "content": first}]
    seen_ids: set[str] = set()
    while run.steps < max_steps:
        run.steps += 1
        try:
            answer = await client.complete(messages, tools=tools)
        except LLMError as exc:
            if exc.fatal:
                raise
            run.code, run.detail = Reason.LLM_AGENT_FAILED, str(exc)
            return run
        msg = answer.message
        calls = msg.get("tool_calls") or []
        if calls:
            reasoning = (msg.get("content") or "").strip() or None
            messages.append({"role": "assistant", "content": msg.get("content"), "tool_calls": calls})
            pending = []
            for i, c in enumerate(calls):
                cid = c.get("id") or f"call_{run.steps}_{i}"
                while cid in seen_ids and not c.get("id"):
                    cid += "_"
                seen_ids.add(cid)
                fn = c.get("function") or {}
                name = str(fn.get("name") or "")
                kwargs, problem = _arguments(fn.get("arguments"))
                run.content.append({"class_": "api_action", "function": name, "kwargs": kwargs,
                                    "description": reasoning if i == 0 else None, "tool_call_id": cid})
                pending.append((cid, name, kwargs, problem))
            for cid, name, kwargs, problem in pending:
                observation = (json.dumps({"error": {"type": "bad_value", "message": problem}}) if problem
                               else execute(name, kwargs))
                if inspect.isawaitable(observation):  # a simulated tool answers through the simulator role
                    observation = await observation
                run.content.append({"class_": "text_observation", "source": "environment", "content": observation,
                                    "tool_call_id": cid, "name": name})
                messages.append({"role": "tool", "tool_call_id": cid, "content": observation})
            continue
        text = (msg.get("content") or "").strip()
        run.content.append({"class_": "message_action", "content": text, "description": None})
        messages.append({"role": "assistant", "content": text})
        nxt = await next_user(messages)
        if nxt is None:
            return run
        run.content.append({"class_": "text_observation", "source": "user", "content": nxt})
        messages.append({"role": "user", "content": nxt})
    run.code, run.detail = Reason.MAX_STEPS, f"no final answer after {max_steps} model turns"
    return run
