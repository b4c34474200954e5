"""Width: parallel and compound tasks, independent members (atomic calls or read-only chains) joined into one
request. Members are kept only when executing them in either order gives the same results and the same state."""

from __future__ import annotations

import random
from typing import Any, Callable

from agentfab.generators.plans import Plan, Step
from agentfab.generators.tasks import Composer
from agentfab.generators.values import between
from agentfab.worlds.core import canonical_json


def compose_width(c: Composer, kind: str, rng: random.Random) -> Plan | None:
    """A parallel task (2..max width atomic calls) or a compound one (2..3 read-only chains), or None."""
    lim = c.limits
    width = between(rng, 2, lim.max_width)
    grow: Callable[[random.Random], list[Step] | None]
    if kind == "parallel":
        def grow(r: random.Random) -> list[Step] | None:
            step = c.atomic(r)
            return [step] if step else None
    else:
        width = min(width, 3)

        def grow(r: random.Random) -> list[Step] | None:
            return c.chain(between(r, 2, max(2, lim.max_depth - 1)), r, read_only=True)

    first = grow(rng)
    if first is None:
        return None
    members: list[list[Step]] | None = [first]
    while members is not None and len(members) < width:
        members = extend_width(c, members, grow, rng)
    if members is None or len(members) < 2:
        return None
    return c.finish(kind, members, c.family_of(first[-1]))


def independent(c: Composer, members: list[list[Step]]) -> bool:
    """Members are independent when either execution order gives the same results and the same state."""
    calls = [(s.tool, s.key or canonical_json(s.arguments)) for m in members for s in m]
    if len(set(calls)) != len(calls):
        return False
    if not any(c.tools[s.tool].spec.mutates for m in members for s in m):
        return True  # reads cannot affect one another; `finish` confirms they changed nothing
    flat = [s for m in members for s in m]
    # forward: the members accepted last are most often these less the newest, executed already: go on from them
    ran = c._ran
    if ran is not None and ran[2][1] is not None and len(ran[0]) < len(flat) and all(
            a is b for a, b in zip(ran[0], flat)):
        run = ran[2]  # spent whatever follows: its world takes the newest member's calls
        run[1] = dict(run[1])  # the accepted members' truth stays as it was
        forward = c.execute_on(run, flat[len(ran[0]):])
    else:
        run = [None, {}, True]
        forward = c.execute_on(run, flat)
    backward = c.execute([s for m in reversed(members) for s in m])
    if forward is None or backward is None or canonical_json(forward) != canonical_json(backward):
        run[1] = None  # spent: a next candidate executes all its members again
        return False
    c._ran = flat, forward, run  # `finish` of these members runs the same calls in this order: the same truth
    return True


def extend_width(c: Composer, members: list[list[Step]], grow: Any, rng: random.Random) -> list[list[Step]] | None:
    """Add one independent member made by `grow(rng)` (an atomic step or a chain)."""
    for _ in range(c.limits.attempts // 2):
        new = grow(rng)
        if new is None:
            return None
        candidate = [*members, new]
        if independent(c, candidate):
            return candidate
    return None
