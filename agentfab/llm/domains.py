"""New domains proposed by the generator, as data in the declared-domain form (never code): the answer is parsed
by the same schema as a hand-written domain file and built into an executable domain, re-asked with the
validation error a bounded number of times, then refused with a code."""

from __future__ import annotations

import json
from typing import Any

from agentfab.llm.client import LLMError, RoleClient
from agentfab.llm.prompts import prompt
from agentfab.worlds.core import Domain
from agentfab.worlds.declared import declared_domain_from_dict
from agentfab.worlds.declared_spec import DeclaredDomainError


class DomainRejected(RuntimeError):
    def __init__(self, code: str, attempts: int, error: str):
        super().__init__(f"{code} after {attempts} attempt(s): {error}")
        self.code, self.attempts, self.error = code, attempts, error


async def propose_domain(client: RoleClient, theme: str, example: dict[str, Any]) -> tuple[dict[str, Any], Domain]:
    """A declared domain about `theme` (the mapping, as a domain YAML file would hold it) and the executable domain
    built from it."""
    messages = [{"role": "system", "content": prompt("domain").text},
                {"role": "user", "content": f"Theme: {theme}\nEXAMPLE <<<{json.dumps(example, sort_keys=True, default=str)}>>>"}]
    error, code = "", "domain.invalid_json"
    attempts = 0
    for _ in range(client.settings.max_repairs + 1):
        attempts += 1
        try:
            answer = await client.complete(messages, response_format={"type": "json_object"})
        except LLMError as exc:
            if exc.fatal:
                raise
            raise DomainRejected("domain.llm_failed", attempts, str(exc)) from None
        text = answer.message.get("content") or ""
        try:
            spec = json.loads(text)
            if not isinstance(spec, dict):
                raise ValueError("not a JSON object")
            return spec, declared_domain_from_dict(spec, source="llm", where="generator")
        except ValueError as exc:  # DeclaredDomainError is a ValueError too
            code = "domain.invalid_spec" if isinstance(exc, DeclaredDomainError) else "domain.invalid_json"
            error = str(exc).splitlines()[0][:500]
        messages = messages + [{"role": "assistant", "content": text},
                               {"role": "user", "content": f"That domain is invalid ({error}). Reply again with the "
                                "corrected JSON object only."}]
    raise DomainRejected(code, attempts, error)
