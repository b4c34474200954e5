"""The indexes a depth extension looks values up in: which read-only tools produce which entity, how long a chain
can end in each tool, and, per seeded variant, which inputs of a producer give each output value.

The entity graph (producers, reach, fed parameters) depends on the tool specs only and is computed once per
domain; the inverse indexes depend on the seeded state and are built lazily, once per variant, by executing a
producer over every valid value of its input.
"""

from __future__ import annotations

import json
from typing import AbstractSet, Any, Callable

from agentfab.worlds import memo_budget
from agentfab.generators.values import PoolCache
from agentfab.worlds.core import Domain, Store, Tool, canonical_json, is_error

OWN_SOURCES = frozenset({"builtin", "declared"})  # tools whose code is agentfab's (see `Composer.try_call`)

Producer = tuple[Tool, str, str]  # (read-only tool, its one required entity parameter, a result field)
# (inputs of a producer call, its result, the canonical driver value, its `value_key`)
Entry = tuple[dict, Any, str, Any]
# canonical output value -> (value, [entries])
Inverse = dict[str, tuple[Any, list[Entry]]]
# canonical value of an entity -> the calls that output it: [(producer, its result field, entries)]
Feeders = dict[str, list[tuple[Tool, str, list[Entry]]]]


_NAMES: dict[str, str] = {}  # parameter name -> its canonical JSON


def one_key(param: str, value_key: str) -> str:
    """`canonical_json({param: value})` from `value_key`, the value's canonical JSON: a call's key, carried."""
    name = _NAMES.get(param)
    if name is None:
        name = _NAMES[param] = canonical_json(param)
    return "{" + name + ":" + value_key + "}"


def pure(tool: Tool) -> bool:
    """A read-only tool of agentfab's own: its answer is a function of the seeded state and its arguments."""
    return not tool.spec.mutates and tool.spec.source in OWN_SOURCES


def producers_of(domain: Domain) -> dict[str, list[Producer]]:
    """entity -> read-only tools with one required entity parameter whose result has a field of that entity."""
    def build() -> dict[str, list[Producer]]:
        out: dict[str, list[Producer]] = {}
        for tool in domain.tools:
            if tool.spec.mutates:
                continue
            required = tool.spec.parameters.get("required", [])
            props = tool.spec.parameters.get("properties", {})
            if len(required) != 1 or "x-entity" not in props[required[0]]:
                continue
            for name, schema in tool.spec.returns.get("properties", {}).items():
                entity = schema.get("x-entity")
                if entity and schema.get("type") in ("string", "integer"):
                    out.setdefault(entity, []).append((tool, required[0], name))
        return out
    return domain.memo("compose_producers", build)


def reach_of(domain: Domain) -> dict[str, int]:
    """tool -> the longest chain the entity graph allows to end in it (an upper bound; values decide the rest)."""
    producers = producers_of(domain)
    tools = {t.name: t for t in domain.tools}

    def reach(name: str, path: tuple[str, ...]) -> int:
        props = tools[name].spec.parameters.get("properties", {})
        best = 1
        for schema in props.values():
            for producer, _, _ in producers.get(schema.get("x-entity", ""), []):
                if producer.name != name and producer.name not in path and len(path) < 6:
                    best = max(best, 1 + reach(producer.name, (*path, name)))
        return best
    return domain.memo("compose_reach", lambda: {t.name: reach(t.name, ()) for t in domain.tools})


def fed_params(domain: Domain, tool: Tool) -> list[tuple[str, list[Producer]]]:
    """(param, producers other than the tool itself) of each required parameter that another tool's output can
    feed, in the order the parameters are declared (depends on the tool specs only)."""
    def build() -> list[tuple[str, list[Producer]]]:
        producers = producers_of(domain)
        props = tool.spec.parameters.get("properties", {})
        out = []
        for p in tool.spec.parameters.get("required", []):
            fed = [x for x in producers.get(props[p].get("x-entity", ""), []) if x[0].name != tool.name]
            if fed:
                out.append((p, fed))
        return out
    return domain.memo(("compose_fed", tool.name), build)


def value_key(value: Any) -> Any:
    """A key two values share exactly when their canonical JSON is the same, for the sets a chain excludes inputs
    by (equality within the process is all they need): a str or an int is its own key, with no JSON made (no other
    value spells the same JSON as a str or an int unless its key is that str or int); any other value is keyed by
    what its canonical JSON spells: a str, an int, else the text itself in a tuple."""
    if type(value) is str or type(value) is int:
        return value
    text = canonical_json(value)
    if text.startswith('"'):
        return json.loads(text)
    if text.lstrip("-").isdigit() and text.isascii():
        return int(text)
    return ("json", text)


def value_keys(values: Any) -> frozenset[Any]:
    """`value_key` of each value (a str or an int inline: most are)."""
    return frozenset([v if type(v) is str or type(v) is int else value_key(v) for v in values])


# values whose canonical JSON is never a string or an integer (orjson writes 2.0 as "2.0"): their `value_key` is
# ("json", text), which no str or int key equals
_TEXT_KEYED = frozenset({list, dict, float, bool, type(None)})


def scalar_keys(values: Any) -> frozenset[Any]:
    """`value_keys` less the keys that are ("json", text): what a chain excludes inputs by where every input's key
    is a str or an int (`DepthIndex.keys_of`), with no canonical JSON made of a result's lists and numbers."""
    return frozenset([v if type(v) is str or type(v) is int else value_key(v) for v in values
                      if type(v) not in _TEXT_KEYED])


def any_fresh(entries: list[Entry], said: AbstractSet[Any], returned: frozenset[Any]) -> bool:
    """Whether some producer call's input is neither stated by the chain nor returned by its innermost call (sets
    of `value_key`s). Each entry has its own input, so more entries than excluded values always leave one: no scan
    needed then."""
    if len(entries) > len(said) + len(returned):
        return True
    for e in entries:  # a loop, not any() over a generator: most lists are short, and a generator costs more
        if e[3] not in said and e[3] not in returned:
            return True
    return False


def draw_fresh(entries: list[Entry], said: AbstractSet[Any], returned: frozenset[Any], rng: random.Random) -> Entry:
    """One of those entries, uniformly: drawn again until fresh (at most a few excluded values, so ~1 draw)."""
    while True:
        entry = entries[rng._randbelow(len(entries))] if len(entries) > 1 else entries[0]
        if entry[3] not in said and entry[3] not in returned:
            return entry


def entity_params(domain: Domain, tool: Tool) -> list[tuple[str, str]]:
    """(param, entity) of each entity-typed parameter of a tool, by name (once per domain and tool)."""
    def build() -> list[tuple[str, str]]:
        props = tool.spec.parameters.get("properties", {})
        return [(p, props[p]["x-entity"]) for p in sorted(props) if "x-entity" in props[p]]
    return domain.memo(("compose_entity_params", tool.name), build)


Head = tuple[Tool, str, Producer, bool]  # (tool, the parameter a producer feeds, the producer, nothing else to draw)


class DepthIndex:
    """The inverse indexes of one seeded variant, built lazily, and what they compile per call met."""

    def __init__(self, domain: Domain, pools: PoolCache):
        self.domain = domain
        self.pools = pools
        self.producers = producers_of(domain)
        self.reach = reach_of(domain)
        self._inverse: dict[tuple[str, str], Inverse] = {}
        self.keys: dict[tuple[str, str], list[str]] = {}  # each index's keys in order, listed once
        self.clean: set[tuple[str, str]] = set()  # indexes of own read-only tools that left the world unchanged
        self._runs: dict[tuple[str, str], tuple[list[tuple[Any, Any, str]], bool]] = {}  # see `_driven`
        # (tool, canonical arguments) -> the answer of an own read-only call alone, met by `_driven`
        self.answers: dict[tuple[str, str], Any] = {}
        self._feeders: dict[str, Feeders] = {}
        self._links: dict[tuple[str, str], list[tuple[Tool, str, list[Entry]]]] = {}  # see `links_into`
        self._heads: dict[tuple[str, ...], tuple[list[Head], list[float]]] = {}  # see `heads`
        # the keys a chain excludes producer calls by, of what a call states or returns: see `_keys_of`
        self.keys_of: Callable[[Any], frozenset[Any]] = self._keys_of
        memo_budget.hold(self)

    def _keys_of(self, values: Any) -> frozenset[Any]:
        """`keys_of` met first: decides it for this variant, then answers.

        A chain asks of those keys only whether an entry's key (`Entry[3]`, the `value_key` of a producer's
        input) is among them, and their number as a bound. So where every producer's input pool has only str or
        int keys (most worlds: ids, names), the ("json", text) keys of lists, floats and booleans can never match
        and are left out (`scalar_keys`); otherwise every value's key is kept (`value_keys`)."""
        scalar = all(type(value_key(v)) is not tuple
                     for producers in self.producers.values() for tool, driver, _ in producers
                     for v in self.pools.pool(tool.spec.parameters["properties"][driver]["x-entity"]))
        self.keys_of = scalar_keys if scalar else value_keys
        return self.keys_of(values)

    def forget(self) -> None:
        self._links.clear()

    def inverse(self, store: Store, tool: Tool, driver: str, out_field: str) -> Inverse:
        """value of `out_field` -> the inputs that produce it, by executing `tool` over every valid driver value."""
        key = (tool.name, out_field)
        if key not in self._inverse:
            index: Inverse = {}
            runs, clean = self._driven(store, tool, driver)
            for value, result, canonical in runs:
                if is_error(result) or out_field not in result or result[out_field] == value:
                    continue  # an echo of the input is no sub-task
                produced = result[out_field]
                index.setdefault(canonical_json(produced), (produced, []))[1].append(
                    ({driver: value}, result, canonical, value_key(value)))
            self._inverse[key] = index
            self.keys[key] = list(index)
            if clean:
                self.clean.add(key)
        return self._inverse[key]

    def feeders(self, store: Store, entity: str) -> Feeders:
        """The catalog of the edges that chain into an input of `entity`: for each value, every producer call that
        really outputs it (merged from the inverse indexes of the entity's producers, in their order), so that
        an extension draws from what works instead of trying producers one by one."""
        found = self._feeders.get(entity)
        if found is None:
            found = self._feeders[entity] = {}
            for tool, driver, out_field in self.producers.get(entity, ()):
                for key, (_, entries) in self.inverse(store, tool, driver, out_field).items():
                    found.setdefault(key, []).append((tool, out_field, entries))
        return found

    def links_into(self, store: Store, tool: Tool, entry: Entry) -> list[tuple[Tool, str, list[Entry]]]:
        """The producer calls that can feed the input of `tool`'s call `entry` (a link of a chain), without a round
        trip through that call: none whose input the call takes or returns. Compiled once per call and variant;
        a chain only filters out the tools and values its other calls already use."""
        key = (tool.name, entry[2])
        found = self._links.get(key)
        if found is None:
            driver = next(iter(entry[0]))
            returned = self.keys_of(entry[1].values()) if isinstance(entry[1], dict) else frozenset()
            found = []
            entity = tool.spec.parameters["properties"][driver]["x-entity"]
            for producer, out_field, entries in self.feeders(store, entity).get(entry[2], ()):
                fresh = [e for e in entries if e[3] != entry[3] and e[3] not in returned]
                if producer.name != tool.name and fresh:
                    found.append((producer, out_field, fresh))
            self._links[key] = found
            memo_budget.kept_one()
        return found

    def heads(self, store: Store, names: list[str]) -> tuple[list[Head], list[float]]:
        """The catalog a chain's head is drawn from, among the tools `names`: every (tool, parameter, producer) whose
        producer outputs anything, with cumulative weights that draw it as drawing the tool, then a parameter
        another tool can feed, then one of its producers, each uniformly, would (once per variant and list)."""
        found = self._heads.get(tuple(names))
        if found is None:
            heads: list[Head] = []
            weights: list[float] = []
            total = 0.0
            for name in names:
                tool = self.domain.tool(name)
                fed = fed_params(self.domain, tool)
                required = tool.spec.parameters.get("required", [])
                for param, producers in fed:
                    alone = required == [param] and tool.spec.parameters.get("minProperties", 0) <= 1
                    for producer in producers:
                        if self.inverse(store, *producer):
                            total += 1.0 / (len(names) * len(fed) * len(producers))
                            heads.append((tool, param, producer, alone))
                            weights.append(total)
            found = self._heads[tuple(names)] = (heads, weights)
        return found

    def _driven(self, store: Store, tool: Tool, driver: str) -> tuple[list[tuple[Any, Any, str]], bool]:
        """(driver value, result, canonical value) of `tool` over every valid driver value, executed in one fresh
        world; and whether they are the answers of each call alone (an own read-only tool that changed nothing).
        Those are shared by the indexes of all its fields, and answer the same calls while composing (`answers`);
        any other tool is executed again for each field."""
        shared = self._runs.get((tool.name, driver))
        if shared is not None:
            return shared
        world = store.fork()
        entity = tool.spec.parameters["properties"][driver]["x-entity"]
        runs = []
        keys = []
        for value in self.pools.pool(entity):
            canonical = canonical_json(value)
            keys.append(one_key(driver, canonical))
            runs.append((value, tool.invoke(world, {driver: value}, keys[-1]), canonical))
        found = runs, pure(tool) and not world.diff()
        if found[1]:
            self._runs[(tool.name, driver)] = found
            self.answers.update(((tool.name, key), result) for key, (_, result, _) in zip(keys, runs))
        return found
