"""Task intents proposed by the generator for a domain: a request in the user's words and the calls that serve it.

The answer is structured (validated against `IntentAnswer`, repaired, else refused). Each intent is then checked
against the domain's tools: an unknown tool (`intent.unknown_tool`), arguments the tool's schema refuses
(`intent.bad_arguments`) or a request that does not state an argument value (`intent.unstated_value`) rejects the
intent with its code; rejected intents are kept (listed with the refused answers). Accepted intents become tasks
through the same compose -> roll out -> verify chain as composed ones (the caller executes their calls).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentfab.llm.client import LLMError, RoleClient
from agentfab.llm.prompts import prompt
from agentfab.llm.structured import AnswerRejected, ask
from agentfab.schemas.answers import flatten, mentioned, normalize
from agentfab.schemas.codes import Refusal
from agentfab.worlds.core import Domain, Tool


class IntentCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tool: str = Field(min_length=1, max_length=200)
    arguments: dict[str, Any] = Field(default_factory=dict)


class Intent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request: str = Field(min_length=1, max_length=2000)
    calls: list[IntentCall] = Field(min_length=1, max_length=4)


class IntentAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intents: list[Intent] = Field(max_length=50)


@dataclass(frozen=True)
class Judged:
    """One proposed intent and the code that rejected it (None: accepted)."""

    intent: Intent
    code: str | None = None
    detail: str = ""


def check_intent(domain: Domain, intent: Intent) -> Judged:
    names = {t.name: t for t in domain.tools}
    flat = flatten(intent.request)
    for call in intent.calls:
        tool: Tool | None = names.get(call.tool)
        if tool is None:
            return Judged(intent, Refusal.INTENT_UNKNOWN_TOOL, f"{domain.name} has no tool {call.tool!r}")
        problem = tool.check(call.arguments)
        if problem is not None:
            return Judged(intent, Refusal.INTENT_BAD_ARGUMENTS, f"{call.tool}: {problem}")
        unstated = [v for v in call.arguments.values()
                    if isinstance(v, (str, int, float)) and not mentioned(flat, normalize(v))]
        if unstated:
            return Judged(intent, Refusal.INTENT_UNSTATED_VALUE, f"the request does not state {unstated[0]!r}")
    return Judged(intent)


def tool_menu(domain: Domain, examples: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """What the generator is shown: each tool's name, description, parameters and example arguments that exist."""
    return [{"name": t.name, "description": t.spec.description, "parameters": t.spec.parameters,
             "examples": examples.get(t.name, [])} for t in domain.tools]


async def propose_intents(client: RoleClient, domain: Domain, examples: dict[str, list[dict[str, Any]]],
                          count: int) -> tuple[list[Judged], str | None]:
    """Up to `count` intents for `domain`, each judged; the second value is a refusal code when the whole answer
    was unusable (then there are no intents)."""
    menu = json.dumps(tool_menu(domain, examples), sort_keys=True, default=str)
    messages = [{"role": "system", "content": prompt("intents").text},
                {"role": "user", "content": f"Domain: {domain.name}: {domain.description}\nCOUNT <<<{count}>>>\n"
                 f"TOOLS <<<{menu}>>>"}]
    try:
        answer, _ = await ask(client, messages, IntentAnswer)
    except AnswerRejected as exc:
        return [], f"{Refusal.INTENT_INVALID}: {exc.code}: {exc.error}"
    except LLMError as exc:
        if exc.fatal:
            raise
        return [], f"{Refusal.INTENT_FAILED}: {exc.code}"
    return [check_intent(domain, i) for i in answer.intents[:count]], None
