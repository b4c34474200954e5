"""Near misses: requests in a domain's own vocabulary that none of its tools can do (the tool family exists, the
operation does not): "unblock card CRD-5003" in a bank that can only block cards. Irrelevant tasks draw half of
their requests from here, and `partial` tasks add one to a doable request.
"""

from __future__ import annotations

import functools
import random
import re

from agentfab.generators.values import PoolCache, render_value
from agentfab.worlds.core import Domain

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def near_miss(domain: Domain, pools: PoolCache, rng: random.Random) -> tuple[str, list[str]] | None:
    """A request the domain's tools cannot serve, with its placeholders filled from the world, and the tools that
    come closest (they share its entities); None when the domain declares no near misses."""
    templates = [t for t in domain.near_misses if all(pools.pool(n) for n in _fields(t))]
    if not templates:
        return None
    template = templates[rng._randbelow(len(templates))]
    text = _FIELD.sub(lambda m: render_value(_draw(pools.pool(m.group(1)), rng)), template)
    return text, domain.memo(("near_miss_tools", template), lambda: _closest(domain, set(_fields(template))))


@functools.lru_cache(maxsize=4096)
def _fields(template: str) -> tuple[str, ...]:
    return tuple(_FIELD.findall(template))


def _closest(domain: Domain, entities: set[str]) -> list[str]:
    """The tools that share an entity with a near miss (computed once per domain and template)."""
    def touches(name: str) -> bool:
        spec = domain.tool(name).spec
        props = [*spec.parameters.get("properties", {}).values(), *spec.returns.get("properties", {}).values()]
        return any(p.get("x-entity") in entities for p in props if isinstance(p, dict))

    return sorted(t.name for t in domain.tools if touches(t.name))


def _draw(pool: list, rng: random.Random):
    return pool[rng._randbelow(len(pool))]
