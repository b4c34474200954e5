"""The generator (paraphrases) and the user simulator: small async roles over one `RoleClient` each (the judge is
`agentfab.llm.judge`).

Each returns what it made together with a reason code when its answer was refused, so the caller keeps the
template text (or the rule judge's score) and records why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentfab.llm.client import LLMError, RoleClient
from agentfab.llm.prompts import prompt
from agentfab.llm.structured import AnswerRejected, ask
from agentfab.schemas.answers import flatten, mention_count, normalize
from agentfab.schemas.codes import Refusal


class ParaphraseAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


@dataclass(frozen=True)
class Made:
    """A role's output: `text` is the LLM's when `code` is None, else the fallback the caller gave."""

    text: str
    code: str | None = None
    detail: str = ""
    original: str = ""  # the text it rewrote (a later check that refuses the rewrite keeps this one)


def missing_values(text: str, must_keep: list[str], original: str = "") -> list[str]:
    """The values a rewrite lost or changed: each must stand in it as a whole token, any case or spacing
    ('120.50' is not kept by '1120.50' or '120.5'), and at least as often as `original` states it (a value
    changed in one place is not kept by its other mention)."""
    flat, before = flatten(text), flatten(original)
    return [v for v in must_keep
            if v and mention_count(flat, normalize(v)) < max(1, mention_count(before, normalize(v)))]


async def paraphrase(client: RoleClient, text: str, must_keep: list[str]) -> Made:
    """Rewrite `text`; refused (code phrase.*) when a value is dropped or changed or the answer is unusable."""
    p = prompt("paraphrase")
    messages = [{"role": "system", "content": p.render(values=", ".join(repr(v) for v in must_keep) or "(none)")},
                {"role": "user", "content": f"Message: <<<{text}>>>"}]
    try:
        answer, _ = await ask(client, messages, ParaphraseAnswer)
    except AnswerRejected as exc:
        return Made(text, Refusal.PHRASE_INVALID, f"{exc.code}: {exc.error}")
    except LLMError as exc:
        if exc.fatal:
            raise
        return Made(text, Refusal.PHRASE_FAILED, exc.code)
    lost = missing_values(answer.text, must_keep, text)
    if lost:
        return Made(text, Refusal.DROPPED_VALUE, f"rewrite {answer.text!r} lost {', '.join(map(repr, lost))}")
    return Made(answer.text.strip(), original=text)


async def user_turn(client: RoleClient, goal: str, history: list[dict[str, Any]], scripted: str,
                    must_keep: list[str]) -> Made:
    """The simulated user's next message, grounded in the task's next scripted turn; refused (code user.*) when
    it loses a value, so the scripted turn is used instead."""
    p = prompt("user")
    messages = [{"role": "system", "content": p.render(goal=goal, next=scripted)}]
    # the simulator sees the conversation from the user's side: the assistant's messages are its input
    for m in history:
        if m["role"] == "assistant" and m.get("content"):
            messages.append({"role": "user", "content": m["content"]})
        elif m["role"] == "user":
            messages.append({"role": "assistant", "content": m["content"]})
    try:
        answer = await client.complete(messages)
    except LLMError as exc:
        if exc.fatal:
            raise
        return Made(scripted, Refusal.USER_FAILED, exc.code)
    text = (answer.message.get("content") or "").strip()
    if not text:
        return Made(scripted, Refusal.USER_EMPTY, "the simulated user said nothing")
    lost = missing_values(text, must_keep)
    if lost:
        return Made(scripted, Refusal.USER_DROPPED_VALUE, f"lost {', '.join(map(repr, lost))}")
    return Made(text)
