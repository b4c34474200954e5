"""The order a rollout makes a plan's calls in: turn by turn, each turn's steps in rounds of calls that do not
depend on each other (plan order within a round), and the order a reply reads a turn's steps (chain by chain).
A chained plan's turns are worked out once per plan shape (`SCHEDULES`): a few dozen shapes recur in every shard.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from agentfab.schemas.tasks import PlanStep
from agentfab.worlds.core import Memo


def levels(steps: list[PlanStep], met: Any = frozenset()) -> list[list[PlanStep]]:
    """Group steps whose dependencies are met into rounds of parallel calls, in plan order; dependencies in `met`
    (answered in earlier turns) count as met from the start."""
    for s in steps:
        if s.depends_on:
            break
    else:  # independent calls (most turns): one round
        return [list(steps)] if steps else []
    done: set[str] = set()
    remaining = list(steps)
    rounds: list[list[PlanStep]] = []
    while remaining:
        ready, waiting = [], []
        for s in remaining:
            for d in s.depends_on:
                if d not in done and d not in met:
                    waiting.append(s)
                    break
            else:
                ready.append(s)
        if not ready:
            raise ValueError("plan has a dependency cycle or a dependency outside its turn")
        rounds.append(ready)
        done.update([s.id for s in ready])
        remaining = [s for s in waiting if s.id not in done]
    return rounds


def by_chain(steps: list[PlanStep]) -> list[PlanStep]:
    """Plan order is level by level; a reply reads better member by member (each chain from its first step)."""
    for s in steps:
        if s.depends_on:
            break
    else:  # no chains: plan order is member order
        return steps
    by_id = {s.id: s for s in steps}
    position = {s.id: i for i, s in enumerate(steps)}

    def root(step: PlanStep) -> int:
        while step.depends_on and step.depends_on[0] in by_id:
            step = by_id[step.depends_on[0]]
        return position[step.id]

    return sorted(steps, key=lambda s: (root(s), position[s.id]))


class Turn(NamedTuple):
    """One turn of a chained plan, by the plan's step positions: its steps, its rounds of calls, the ids of its
    final steps and its steps in the order a reply reads them."""

    steps: tuple[int, ...]
    rounds: tuple[tuple[int, ...], ...]
    terminal: frozenset[str]
    by_chain: tuple[int, ...]


NO_TURN = Turn((), (), frozenset(), ())


class _Step(NamedTuple):  # what `levels`, `terminal_steps` and `by_chain` read of a plan step
    id: str
    turn: int
    depends_on: tuple[str, ...]


def schedule(shape: tuple[tuple[str, int, tuple[str, ...]], ...]) -> dict[int, Turn]:
    """The turns of a chained plan of this shape ((id, turn, depends_on) of each step), worked out as a rollout
    did turn by turn: a step of an earlier turn has been answered (each turn makes all its calls)."""
    steps = [_Step(*s) for s in shape]
    position = {s.id: i for i, s in enumerate(steps)}
    out = {}
    for t in sorted({s.turn for s in steps}):
        mine = [s for s in steps if s.turn == t]
        earlier = {s.id for s in steps if s.turn < t}
        out[t] = Turn(tuple(position[s.id] for s in mine),
                      tuple(tuple(position[s.id] for s in group) for group in levels(mine, earlier)),  # type: ignore[arg-type]
                      frozenset(s.id for s in terminal_steps(mine)),  # type: ignore[arg-type]
                      tuple(position[s.id] for s in (by_chain(mine) if len(mine) > 1 else mine)))  # type: ignore[arg-type]
    return out


SCHEDULES = Memo(schedule)  # a few dozen shapes of chains and turns recur in every shard


def _in_plan_order(shape: tuple[tuple[str, int, tuple[str, ...]], ...]) -> bool:
    """A rollout of a chained plan of this shape makes its calls turn by turn, round by round, in plan order."""
    turns = SCHEDULES[shape]
    order = [i for t in sorted(turns) for group in turns[t].rounds for i in group]
    return order == list(range(len(order)))


IN_PLAN_ORDER = Memo(_in_plan_order)


def terminal_steps(in_turn: list[PlanStep]) -> list[PlanStep]:
    """The steps of one turn whose results no later step of the same turn consumes."""
    used = {d for s in in_turn for d in s.depends_on}
    return [s for s in in_turn if s.id not in used] if used else in_turn
