"""Simulated domains: tools that have a spec but no implementation and no inferable domain (an imported tool list).

Their results come from the LLM tool simulator (`agentfab.llm.simulator`), which the build asks before any task is
composed: every combination of a few sample values per required parameter (the domain's entity pools, so the
composer draws exactly those) gets one validated, memoized answer, kept in the domain's `SimulatedCalls`. A tool
then executes by looking its call up there, so composing, the oracle's rollout and the replay of every validator
see the same result for the same call. A call nobody has simulated yet (an LLM agent's own choice of arguments) is
an `unavailable` error until the build's agent stage has asked the simulator and `record`ed the answer.

State: a world of a simulated domain holds the simulated writes made in it so far (table `simulated_writes`: each
successful call of a tool whose spec `mutates`, with its arguments and result, in order). The memo is keyed by
(tool, arguments, state digest), so a read after a write is another call than the same read before it (the
simulator is shown the writes), the same call in the same state gives the same result, and the writes are the
state changes every validator's replay compares, like a real world's.

Chains: a required parameter named like a result field of another read-only tool with one required parameter
(`restaurant_id` <- `find_restaurant(city) -> {restaurant_id, ...}`) is typed with a shared entity of that
name, so the composer can feed the one from the other. Its sample values are the producers' simulated outputs (`calls_to_simulate`
simulates the producers first, then learns those values), so a chain's later call takes its argument from an
earlier simulated result.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from agentfab.schemas.tools import ToolSpec
from agentfab.worlds.core import Domain, EntityPool, Store, Tool, ToolError, canonical_json, is_error

COMBINATIONS = 8  # simulated calls per tool at most: the sample values per parameter shrink as parameters grow
WRITES = "simulated_writes"  # the table of a simulated world's state: its successful simulated writes, in order
LINK_VALUES = 4  # learnt values per linked parameter at most


@dataclass
class SimulatedCalls:
    """tool name + canonical arguments -> the simulated result (JSON data)."""

    results: dict[str, Any] = field(default_factory=dict)
    learnt: set[str] = field(default_factory=set)  # linked entities whose sample values came from their producers

    @staticmethod
    def key(tool: str, arguments: Mapping[str, Any], state: str = "") -> str:
        return canonical_json([tool, dict(arguments), state] if state else [tool, dict(arguments)])

    def get(self, tool: str, arguments: Mapping[str, Any], state: str = "") -> Any:
        return self.results.get(self.key(tool, arguments, state))

    def has(self, tool: str, arguments: Mapping[str, Any], state: str = "") -> bool:
        return self.key(tool, arguments, state) in self.results

    def record(self, tool: str, arguments: Mapping[str, Any], result: Any, state: str = "") -> None:
        self.results[self.key(tool, arguments, state)] = result


def writes(store: Store) -> list[dict[str, Any]]:
    """The simulated writes made in this world so far, in order: {tool, arguments, result} each."""
    return [store.get(WRITES, k) for k in sorted(store.keys(WRITES))] if store.count(WRITES) else []


def state_of(store: Store) -> str:
    """The digest of a simulated world's state (its writes so far): "" before any write."""
    done = writes(store)
    return hashlib.sha256(canonical_json(done).encode()).hexdigest()[:16] if done else ""


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


def _kind(schema: Any) -> Any:
    kind = schema.get("type") if isinstance(schema, dict) else None
    return kind[0] if isinstance(kind, list) and kind else kind


def _links(specs: list[ToolSpec]) -> dict[str, set[str]]:
    """Linked entity -> the read-only tools with one required parameter that produce it (a result field named like
    another tool's required parameter, of the same type; a parameter with an enum keeps its own values)."""
    fields: dict[tuple[str, Any], list[str]] = {}
    for spec in specs:
        if spec.mutates or len(spec.parameters.get("required", [])) != 1:
            continue
        for name, schema in (spec.returns.get("properties") or {}).items():
            if _kind(schema) in ("string", "integer") and name not in spec.parameters["required"]:  # no echo
                fields.setdefault((name, _kind(schema)), []).append(spec.name)
    out: dict[str, set[str]] = {}
    for spec in specs:
        props = spec.parameters.get("properties", {})
        for name in spec.parameters.get("required", []):
            schema = props.get(name)
            producers = [p for p in fields.get((name, _kind(schema)), []) if p != spec.name]
            if isinstance(schema, dict) and producers and "enum" not in schema:
                out.setdefault(name, set()).update(producers)
    return out


def simulated_tool(spec: ToolSpec, calls: SimulatedCalls, links: Mapping[str, set[str]] | None = None
                   ) -> tuple[Tool, dict[str, EntityPool]]:
    """The tool (its required parameters typed with this tool's own sample pools, or with a linked entity; result
    fields that feed a linked parameter typed with it too) and those pools."""
    links = links or {}
    params = copy.deepcopy(spec.parameters)
    returns = copy.deepcopy(spec.returns)
    props = params.get("properties", {})
    required = [p for p in params.get("required", []) if isinstance(props.get(p), dict)]
    k = _per_parameter(len(required))
    pools = {}
    for name in required:
        entity = name if name in links else f"{spec.name}.{name}"
        pools[entity] = EntityPool(values=tuple(_samples(name, props[name], k)))
        props[name] = {**props[name], "x-entity": entity}
    for name, schema in (returns.get("properties") or {}).items():
        if spec.name in links.get(name, ()):
            returns["properties"][name] = {**schema, "x-entity": name}
    typed = spec.model_copy(update={"parameters": params, "returns": returns})

    def run(store: Store, **kwargs: Any) -> Any:
        state = state_of(store)
        if not calls.has(spec.name, kwargs, state):
            raise ToolError("unavailable", f"{spec.name} has no simulated result for these arguments yet")
        result = copy.deepcopy(calls.get(spec.name, kwargs, state))
        if spec.mutates and not is_error(result):  # the next call sees this write
            store.put(WRITES, f"{store.count(WRITES) + 1:04d}",
                      {"tool": spec.name, "arguments": dict(kwargs), "result": copy.deepcopy(result)})
        return result

    return Tool(spec=typed, run=run), pools


def simulated_domain(name: str, description: str, specs: list[ToolSpec]) -> Domain:
    calls = SimulatedCalls()
    links = _links(specs)
    tools, entities = [], {}
    for spec in specs:
        tool, pools = simulated_tool(spec, calls, links)
        tools.append(tool)
        for entity, pool in pools.items():
            entities.setdefault(entity, pool)  # a linked entity keeps its first consumer's samples until learnt
    domain = Domain(name=name, description=description, tools=tuple(tools), seed_state=lambda seed: {WRITES: {}},
                    entities=entities)
    domain.memo("simulated_calls", lambda: calls)
    domain.memo("simulated_links", lambda: links)
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


def _learn_links(domain: Domain, calls: SimulatedCalls) -> None:
    """Give each linked entity whose producers are all simulated the values they returned (in call order, at most
    LINK_VALUES; its samples stay when they returned none)."""
    links: dict[str, set[str]] = domain.memo("simulated_links", dict)
    drawn: dict[str, list[dict[str, Any]]] = {}
    for tool, args in sample_calls(domain):
        drawn.setdefault(tool.name, []).append(args)
    for entity, producers in sorted(links.items()):
        if entity in calls.learnt or any(not calls.has(p, a) for p in producers for a in drawn.get(p, [])):
            continue
        name = entity  # a linked entity is named by the field (a request says "the restaurant_id from that")
        results = [calls.get(p, a) for p in sorted(producers) for a in drawn.get(p, [])]
        values = [r[name] for r in results if isinstance(r, dict) and not is_error(r)
                  and isinstance(r.get(name), (str, int)) and not isinstance(r.get(name), bool)]
        values = list(dict.fromkeys(values))[:LINK_VALUES]
        if values:
            domain.entities[entity] = EntityPool(values=tuple(values))
        calls.learnt.add(entity)


def calls_to_simulate(domain: Domain) -> list[tuple[Tool, dict[str, Any]]]:
    """The sample calls to simulate next, before composing: those of tools whose linked parameters have learnt
    their values from the producers (so producers go first), not yet memoized. Call until it returns nothing."""
    calls = simulated_calls(domain)
    if calls is None:
        return []
    links: dict[str, set[str]] = domain.memo("simulated_links", dict)
    while True:
        _learn_links(domain, calls)
        waiting = {e for e in links if e not in calls.learnt}

        def ready(tool: Tool) -> bool:
            props = tool.spec.parameters.get("properties", {})
            return not any(props.get(p, {}).get("x-entity") in waiting
                           for p in tool.spec.parameters.get("required", []))

        todo = [(t, a) for t, a in sample_calls(domain) if ready(t) and not calls.has(t.name, a)]
        if todo or not waiting:
            return todo
        calls.learnt |= waiting  # producers that wait on each other: their consumers keep the sample values


def learn_calls(domain: Domain, content: list[dict[str, Any]]) -> int:
    """Fill a simulated domain's memo from a trajectory's own observations (what `agentfab validate` has of a build's
    simulated results): each call's result as the row shows it, first seen wins, so a row whose result for the same
    call differs fails its replay (`exec.observation_mismatch`). Calls the build never simulated (an `unavailable`
    error) and arguments the schema refuses stay out. Returns how many calls were learnt."""
    calls = simulated_calls(domain)
    if calls is None:
        return 0
    actions = {e.get("tool_call_id"): e for e in content if e.get("class_") == "api_action"}
    store = domain.seeded(0)  # the row's world: its simulated writes so far are the state of each call
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
        if not isinstance(kwargs, dict) or tool.check(kwargs) is not None:
            continue
        state = state_of(store)
        unavailable = isinstance(result, dict) and (result.get("error") or {}).get("type") == "unavailable"
        if not calls.has(tool.name, kwargs, state) and not unavailable:
            calls.record(tool.name, kwargs, result, state)
            learnt += 1
        tool.invoke(store, kwargs)  # a write moves the state on, as in the build
    return learnt
