"""Answers that must be JSON: the pydantic model's JSON Schema goes to the server (`response_format` json_schema,
or a prompt contract for servers without it), the answer is validated, a bad one is re-asked with the validation
error a bounded number of times, then rejected with one typed error carrying a reason code and the last answer."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agentfab.llm.client import LLMError, RoleClient

M = TypeVar("M", bound=BaseModel)


class AnswerRejected(RuntimeError):
    """Every attempt failed validation. `code`: llm.invalid_json or llm.schema_violation."""

    def __init__(self, code: str, attempts: int, last: str, error: str):
        super().__init__(f"{code} after {attempts} attempt(s): {error}")
        self.code, self.attempts, self.last, self.error = code, attempts, last, error


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def _strip_fences(text: str) -> str:
    t = text.strip()
    if t.startswith("```"):
        t = t.split("\n", 1)[1] if "\n" in t else ""
        t = t.rsplit("```", 1)[0]
    return t.strip()


def _explain(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:5])


async def ask(client: RoleClient, messages: list[dict[str, Any]], model: type[M]) -> tuple[M, int]:
    """The validated answer and the number of attempts it took."""
    schema = _schema(model)
    response_format: dict[str, Any] | None = None
    msgs = list(messages)
    if client.settings.structured == "json_schema":
        response_format = {"type": "json_schema",
                           "json_schema": {"name": model.__name__, "schema": schema, "strict": False}}
    else:
        msgs[0] = {**msgs[0], "content": msgs[0]["content"] + "\n\nAnswer with one JSON object, nothing else, "
                   "valid against this JSON Schema:\n" + json.dumps(schema, sort_keys=True)}
    attempts, code, error, text = 0, "llm.invalid_json", "", ""
    for _ in range(client.settings.max_repairs + 1):
        attempts += 1
        try:
            answer = await client.complete(msgs, response_format=response_format)
        except LLMError as exc:
            if exc.code != "llm.bad_request" or response_format is None:
                raise
            # the server does not take response_format: fall back to the prompt contract, once
            client.settings = client.settings.model_copy(update={"structured": "prompt"})
            return await ask(client, messages, model)
        text = answer.message.get("content") or ""
        try:
            return model.model_validate_json(_strip_fences(text)), attempts
        except ValidationError as exc:
            bad_json = any(e["type"] == "json_invalid" for e in exc.errors())
            code = "llm.invalid_json" if bad_json else "llm.schema_violation"
            error = "not valid JSON" if bad_json else _explain(exc)
        msgs = msgs + [{"role": "assistant", "content": text},
                       {"role": "user", "content": f"That answer is invalid ({error}). Reply again with only the "
                        "corrected JSON object."}]
    raise AnswerRejected(code, attempts, text, error)
