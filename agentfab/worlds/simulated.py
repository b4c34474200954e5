"""Simulated domains: tools that have a spec but no implementation and no inferable domain (an imported tool list).

Their results come from the LLM tool simulator (`agentfab.llm.simulator`), which the build asks before any task is
composed: every combination of a few sample values per required parameter (the domain's entity pools, so the
composer draws exactly those) gets one validated, memoized answer, kept in the domain's `SimulatedCalls`. A tool
then executes by looking its call up there, so composing, the oracle's rollout and the replay of every validator
see the same result for the same call. A call nobody has simulated yet (an LLM agent's own choice of arguments) is
an `unavailable` error until the build's agent stage has asked the simulator and `record`ed the answer.

The domain holds no state of its own (its store is empty and nothing mutates it), so the memo's "state" is the
domain itself: the same tool and arguments give the same result throughout a build.
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from agentfab.schemas.tools import ToolSpec
from agentfab.worlds.core import Domain, EntityPool, Store, Tool, ToolError, canonical_json

COMBINATIONS = 8  # simulated calls per tool at most: the sample values per parameter shrink as parameters grow


@dataclass
class SimulatedCalls:
    """tool name + canonical arguments -> the simulated result (JSON data)."""

    results: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def key(tool: str, arguments: Mapping[str, Any]) -> str:
        return canonical_json([tool, dict(arguments)])

    def get(self, tool: str, arguments: Mapping[str, Any]) -> Any:
        return self.results.get(self.key(tool, arguments))

    def has(self, tool: str, arguments: Mapping[str, Any]) -> bool:
        return self.key(tool, arguments) in self.results

    def record(self, tool: str, arguments: Mapping[str, Any], result: Any) -> None:
        self.results[self.key(tool, arguments)] = result


def _samples(name: str, schema: dict[str, Any], k: int) -> list[Any]:
    """Up to k valid sample values of one parameter: its enum, examples or default, else values of its type."""
    for source in (schema.get("enum"), schema.get("examples")):
        if isinstance(source, list) and source:
            return source[:k]
    if "default" in schema:
        return [schema["default"]]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "boolean":
        return [True, False][:k]
    if kind in ("integer", "number"):
        lo = schema.get("minimum", 1)
        return [lo + i for i in range(k)] if kind == "integer" else [float(lo) + 0.5 + i for i in range(k)]
    words = name.replace("_", " ")
    return [f"{words} {chr(ord('A') + i)}" for i in range(k)]


def _per_parameter(required: int) -> int:
    return max(1, int(COMBINATIONS ** (1 / required))) if required else 1


def simulated_tool(spec: ToolSpec, calls: SimulatedCalls) -> tuple[Tool, dict[str, EntityPool]]:
    """The tool (its required parameters typed with this tool's own sample pools) and those pools."""
    params = copy.deepcopy(spec.parameters)
    props = params.get("properties", {})
    required = [p for p in params.get("required", []) if isinstance(props.get(p), dict)]
    k = _per_parameter(len(required))
    pools = {}
    for name in required:
        entity = f"{spec.name}.{name}"
        pools[entity] = EntityPool(values=tuple(_samples(name, props[name], k)))
        props[name] = {**props[name], "x-entity": entity}
    typed = spec.model_copy(update={"parameters": params})

    def run(store: Store, **kwargs: Any) -> Any:
        if not calls.has(spec.name, kwargs):
            raise ToolError("unavailable", f"{spec.name} has no simulated result for these arguments yet")
        return copy.deepcopy(calls.get(spec.name, kwargs))

    return Tool(spec=typed, run=run), pools


def simulated_domain(name: str, description: str, specs: list[ToolSpec]) -> Domain:
    calls = SimulatedCalls()
    tools, entities = [], {}
    for spec in specs:
        tool, pools = simulated_tool(spec, calls)
        tools.append(tool)
        entities.update(pools)
    domain = Domain(name=name, description=description, tools=tuple(tools), seed_state=lambda seed: {},
                    entities=entities)
    domain.memo("simulated_calls", lambda: calls)
    return domain


def simulated_calls(domain: Domain) -> SimulatedCalls | None:
    """The memo of a simulated domain; None for a domain whose tools really execute."""
    found = domain.memo("simulated_calls", lambda: None)
    return found if isinstance(found, SimulatedCalls) else None


def sample_calls(domain: Domain) -> list[tuple[Tool, dict[str, Any]]]:
    """Every call the composer can draw in a simulated domain: each tool with each combination of its pools."""
    out = []
    for tool in domain.tools:
        props = tool.spec.parameters.get("properties", {})
        required = [p for p in tool.spec.parameters.get("required", []) if "x-entity" in props.get(p, {})]
        values = [domain.entities[props[p]["x-entity"]].values for p in required]
        for combo in itertools.islice(itertools.product(*values), COMBINATIONS):
            out.append((tool, dict(zip(required, combo))))
    return out


def learn_calls(domain: Domain, content: list[dict[str, Any]]) -> int:
    """Fill a simulated domain's memo from a trajectory's own observations (what `agentfab validate` has of a build's
    simulated results): each call's result as the row shows it, first seen wins, so a row whose result for the same
    call differs fails its replay (`exec.observation_mismatch`). Calls the build never simulated (an `unavailable`
    error) and arguments the schema refuses stay out. Returns how many calls were learnt."""
    calls = simulated_calls(domain)
    if calls is None:
        return 0
    actions = {e.get("tool_call_id"): e for e in content if e.get("class_") == "api_action"}
    learnt = 0
    for ev in content:
        action = actions.get(ev.get("tool_call_id")) if ev.get("source") == "environment" else None
        if action is None:
            continue
        name, kwargs = action.get("function"), action.get("kwargs")
        try:
            tool, result = domain.tool(str(name)), json.loads(ev.get("content") or "")
        except (KeyError, ValueError):
            continue
        if not isinstance(kwargs, dict) or tool.check(kwargs) is not None or calls.has(tool.name, kwargs):
            continue
        if isinstance(result, dict) and (result.get("error") or {}).get("type") == "unavailable":
            continue
        calls.record(tool.name, kwargs, result)
        learnt += 1
    return learnt
