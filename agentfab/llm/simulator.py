"""The tool simulator, for tools that have a spec but no implementation: the model answers a call, the answer is
validated against the tool's `returns` JSON Schema (re-asked with the error a bounded number of times), and the
result is memoized per (tool, arguments, state), so the same call on the same state always gives the same
result. The state is the tool's domain and the simulated writes made in the task's world so far (each with its
arguments and result, in order), shown to the model, so a read after a write can reflect it. Results say they are
simulated (`SIMULATED`), so rows built on them can say so in provenance."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict

from agentfab.llm.client import LLMError, RoleClient
from agentfab.llm.prompts import prompt
from agentfab.llm.structured import AnswerRejected, ask
from agentfab.schemas.tools import ToolSpec

SIMULATED = "simulated"


class SimulatedAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: Any


def _key(spec: ToolSpec, arguments: dict[str, Any], state: str) -> str:
    text = json.dumps([spec.name, arguments, state], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class ToolSimulator:
    def __init__(self, client: RoleClient):
        self.client = client
        self.memo: dict[str, Any] = {}
        self.refused = 0

    async def call(self, spec: ToolSpec, arguments: dict[str, Any], writes: list[dict[str, Any]] | None = None
                   ) -> Any:
        """The tool's result, or an `{"error": ...}` result when no valid answer came (never an exception,
        except for a fatal endpoint error). `writes`: the simulated writes made before this call, in order."""
        state = json.dumps({"domain": spec.domain, "writes": writes or []}, sort_keys=True)
        key = _key(spec, arguments, state)
        if key in self.memo:
            return self.memo[key]
        returns = json.dumps(spec.returns, sort_keys=True)
        messages = [
            {"role": "system", "content": prompt("simulator").text + f"\nTool: {spec.name}: {spec.description}\n"
             f"Parameters: {json.dumps(spec.parameters, sort_keys=True)}"},
            {"role": "user", "content": f"ARGUMENTS <<<{json.dumps(arguments, sort_keys=True)}>>>\n"
             f"STATE <<<{state}>>>\nRETURNS <<<{returns}>>>"},
        ]
        result: Any = None
        problem = ""
        for _ in range(self.client.settings.max_repairs + 1):
            try:
                answer, _ = await ask(self.client, messages, SimulatedAnswer)
            except AnswerRejected as exc:
                problem = f"{exc.code}: {exc.error}"
                break
            except LLMError as exc:
                if exc.fatal:
                    raise
                problem = exc.code
                break
            try:
                jsonschema.validate(answer.result, spec.returns)
            except jsonschema.ValidationError as exc:
                problem = f"the result does not match the returns schema: {exc.message}"
                messages = messages + [{"role": "assistant", "content": answer.model_dump_json()},
                                       {"role": "user", "content": f"That answer is invalid ({problem}). Reply again "
                                        "with only the corrected JSON object."}]
                continue
            result, problem = answer.result, ""
            break
        if problem:
            self.refused += 1
            result = {"error": {"type": "simulator", "message": f"no valid simulated result: {problem}"}}
        self.memo[key] = result
        return result
