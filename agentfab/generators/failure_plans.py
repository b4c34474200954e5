"""Failure tasks: a write that really breaks a business rule of its world (a sold-out flight, a frozen account) and,
most of the time, the alternative the user offers: the same write with one value changed, which really succeeds.
Composed over real executions like every other kind (`Composer.compose("failure")`)."""

from __future__ import annotations

import random
from typing import Any

from agentfab.generators.plans import Plan, Step
from agentfab.generators.tasks import Composer
from agentfab.generators.values import sample_arguments
from agentfab.worlds.core import RULE_ERRORS, Tool, is_error


def compose_failure(c: Composer, rng: random.Random) -> Plan | None:
    """The failing write, then (six times in ten, when one exists) the alternative that succeeds."""
    names = [t.name for t in c.domain.tools if t.spec.mutates and t.spec.parameters.get("required")]
    for _ in range(c.limits.attempts * 2):
        if not names:
            return None
        tool = c.tools[names[rng.randrange(len(names))]]
        args = sample_arguments(tool, c.pools, rng)
        outcome = tool.invoke(c.store.fork(), args)
        if not is_error(outcome) or outcome["error"]["type"] not in RULE_ERRORS:
            continue
        failing = Step(c._new_id(), tool.name, args, expect_error=outcome["error"]["type"])
        members = [[failing]]
        if rng.random() < 0.6:
            other = alternative(c, tool, args, rng)
            if other is not None:
                members.append([Step(c._new_id(), tool.name, other, depends_on=[failing.id])])
        return c.finish("failure", members, c.family_of(failing))
    return None


def alternative(c: Composer, tool: Tool, args: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """The same call with one entity-typed value swapped for another one that really succeeds."""
    props = tool.spec.parameters.get("properties", {})
    params = [p for p in sorted(args) if "x-entity" in props.get(p, {})]
    for param in rng.sample(params, len(params)):
        pool = c.pools.pool(props[param]["x-entity"])
        for value in rng.sample(pool, min(8, len(pool))):
            if value == args[param]:
                continue
            other = {**args, param: value}
            world = c.store.fork()
            if not is_error(tool.invoke(world, other)) and (world.diff() or not tool.spec.mutates):
                return other  # never a no-op ("rename CMP-9 to the name it already has")
    return None
