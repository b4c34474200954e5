"""Argument values: draw valid ones from a world, render them into text, normalize them for answer checks."""

from __future__ import annotations

import math
import random
from typing import Any

from agentfab.schemas.answers import normalize, render_value  # noqa: F401  (re-exported)
from agentfab.worlds.core import Domain, Store, Tool, canonical_json
from agentfab.worlds.declared import made_from_name


class PoolCache:
    """Valid values per entity type, drawn once per seeded store (a shard reuses one store for every task)."""

    def __init__(self, domain: Domain, store: Store):
        self.domain = domain
        self.store = store
        self._pools: dict[str, list[Any]] = {}
        self._plans: dict[str, _SamplingPlan] = {}  # tool name -> see `sample_arguments`

    def record(self, key_name: str, key: Any) -> dict[str, Any] | None:
        """The stored record a key parameter names (`pet_id`), or None."""
        source = self.domain.entities.get(key_name)
        return self.store.get(source.table, key) if source is not None and source.table else None

    def pool(self, entity: str) -> list[Any]:
        found = self._pools.get(entity)  # drawn already, most times: one lookup
        if found is None:
            source = self.domain.entities.get(entity)
            found = self._pools[entity] = source.draw(self.store) if source else []
        return found


def sample_value(schema: dict[str, Any], pools: PoolCache, rng: random.Random) -> Any:
    """A value valid under `schema`, from the world's entity pools where the schema names an entity."""
    entity = schema.get("x-entity")
    if entity:
        pool = pools.pool(entity)
        if pool:
            return pool[rng._randbelow(len(pool))]
    if "enum" in schema:  # randrange, not _randbelow: an empty enum must raise, not draw forever
        return schema["enum"][rng.randrange(len(schema["enum"]))]
    if schema.get("examples"):
        return schema["examples"][rng._randbelow(len(schema["examples"]))]
    kind = schema.get("type")
    if kind == "integer":
        lo = int(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1))
        hi = int(schema.get("maximum", schema.get("exclusiveMaximum", lo + 100) - 1))
        return between(rng, lo, max(lo, hi))
    if kind == "number":
        lo = float(schema.get("minimum", schema.get("exclusiveMinimum", 0.0)))
        hi = float(schema.get("maximum", schema.get("exclusiveMaximum", lo + 100.0)))
        hi = min(hi, lo + 500.0)
        value = round(rng.uniform(lo, hi), 2)
        return value if value > lo or "minimum" in schema else round(lo + 1.0, 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if options:
            return sample_value(options[0], pools, rng)
    raise ValueError(
        f"cannot draw a value for a parameter with schema {canonical_json(schema)}: give it an x-entity "
        "(entity=...), an enum, numeric bounds or examples"
    )


# (tool, [(required parameter, its entity's pool or None, its schema)], [(required parameter, its x-made-from)],
# optional parameters sorted, how many of them to draw, the parameters' schemas): what `sample_arguments` reads of
# a tool, read once per pool cache
_SamplingPlan = tuple[Tool, list[tuple[str, "list[Any] | None", dict[str, Any]]], list[tuple[str, dict[str, Any]]],
                      list[str], int, dict[str, Any]]


def sample_arguments(tool: Tool, pools: PoolCache, rng: random.Random) -> dict[str, Any]:
    """Values for every required parameter of `tool` (optional ones are left to their defaults), each drawn by
    `sample_value`: a parameter of an entity whose pool has values as it draws it (one `_randbelow`, whatever
    range `_within` gives), the others through `_within`."""
    plan = pools._plans.get(tool.name)
    if plan is None or plan[0] is not tool:
        plan = pools._plans[tool.name] = _sampling_plan(tool, pools)
    _, draws, made_from, optional, extra, props = plan
    args: dict[str, Any] = {}
    for name, pool, schema in draws:
        args[name] = pool[rng._randbelow(len(pool))] if pool else sample_value(_within(schema, args, pools), pools,
                                                                                rng)
    for name, made in made_from:  # "name Mary Hill, email mhill@example.org", never a handle drawn apart from the name
        if isinstance(args.get(made["field"]), str):
            args[name] = made_from_name(made["as"], args[made["field"]], args[name], rng)
    if extra > 0:  # e.g. an update tool: every field optional, at least one must be given
        for name in sample(rng, optional, min(extra, len(optional))):
            args[name] = sample_value(_within(props[name], args, pools), pools, rng)
    return args


def _sampling_plan(tool: Tool, pools: PoolCache) -> _SamplingPlan:
    params = tool.spec.parameters
    props = params.get("properties", {})
    required = params.get("required", [])
    draws = []
    for name in required:  # as listed (a name listed twice is drawn twice)
        entity = props[name].get("x-entity")
        draws.append((name, pools.pool(entity) if entity else None, props[name]))
    made_from = [(name, props[name]["x-made-from"]) for name in required if props[name].get("x-made-from") is not None]
    optional = sorted([p for p in props if p not in required])
    return tool, draws, made_from, optional, params.get("minProperties", 0) - len(set(required)), props


def _within(schema: dict[str, Any], args: dict[str, Any], pools: PoolCache) -> dict[str, Any]:
    """A number parameter whose range depends on another field (`x-range-by`: a pet's weight by its species) takes
    the range of the value drawn for it, or else of the stored record the call names (an update of a pet's weight
    alone); otherwise its own."""
    by = schema.get("x-range-by")
    if by is None:
        return schema
    choice = args.get(by["field"])
    if choice is None and by.get("of") in args:
        stored = pools.record(by["of"], args[by["of"]])
        choice = stored.get(by["field"]) if stored else None
    bounds = by["ranges"].get(choice)
    return schema if bounds is None else {**schema, "minimum": bounds[0], "maximum": bounds[1]}


def entity_words(name: str) -> str:
    return name.replace("_", " ")


def sample(rng: random.Random, population: list[Any], k: int) -> list[Any]:
    """`rng.sample(population, k)` of a list: the same draws and the same result, without the abstract Sequence
    test that costs it as much as a draw."""
    n = len(population)
    if not 0 <= k <= n:
        raise ValueError("Sample larger than population or is negative")
    below = rng._randbelow
    setsize = 21 if k <= 5 else 21 + 4 ** math.ceil(math.log(k * 3, 4))  # as random.Random.sample sizes it
    if n <= setsize:
        pool = list(population)
        result = []
        bits = rng.getrandbits
        for i in range(k):
            left = n - i  # `below(left)` written out, as in `shuffle`
            size = left.bit_length()
            j = bits(size)
            while j >= left:
                j = bits(size)
            result.append(pool[j])
            pool[j] = pool[n - i - 1]
        return result
    selected: set[int] = set()
    result = []
    for _ in range(k):
        j = below(n)
        while j in selected:
            j = below(n)
        selected.add(j)
        result.append(population[j])
    return result


def between(rng: random.Random, a: int, b: int) -> int:
    """`rng.randint(a, b)`: the same draw (`a + _randbelow(b - a + 1)`, as randrange makes it), without the two
    calls and three index checks it takes to get there."""
    if b < a:
        raise ValueError(f"empty range ({a}, {b + 1}, {b + 1 - a})")
    return a + rng._randbelow(b - a + 1)


def shuffle(rng: random.Random, items: list[Any]) -> None:
    """`rng.shuffle(items)`: the same draws, in place (`rng._randbelow(i + 1)` written out: a call less a draw)."""
    bits = rng.getrandbits
    for i in range(len(items) - 1, 0, -1):
        k = (i + 1).bit_length()
        j = bits(k)
        while j > i:
            j = bits(k)
        items[i], items[j] = items[j], items[i]
