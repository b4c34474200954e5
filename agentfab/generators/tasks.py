"""Compose tasks over real executions: atomic calls, depth and width extensions, turns, irrelevant and clarify.

Everything is computed, nothing assumed: an atomic task is a call that succeeded on a fresh world; a depth
extension replaces an input of the head call by a call whose real output is that input; width members are kept
only when executing them in either order gives the same results and the same final state.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from typing import Any

from agentfab.worlds import memo_budget
from agentfab.generators.chains import ChainGrowing, HeadDraw
from agentfab.generators.depth_index import OWN_SOURCES, DepthIndex, entity_params, pure
from agentfab.generators.plans import FAILED, ComposeLimits, Plan, Step
from agentfab.generators.values import PoolCache, between, sample, sample_arguments
from agentfab.worlds.core import Domain, Store, Tool, canonical_json, is_error

__all__ = ["FAILED", "ComposeLimits", "Composer", "Plan", "Step"]

_MISSING = object()


def _same_scalar(given: Any, value: Any) -> bool:
    """A bound value that is exactly the recorded argument (same type, so the same canonical JSON)."""
    return type(given) is type(value) and type(value) in (str, int) and given == value


def _as_expected(result: Any, expect: str | None) -> bool:
    """A step's result is what the plan expects: a success, or the error of type `expect`."""
    if expect is None:
        return not is_error(result)
    return is_error(result) and result["error"]["type"] == expect


def _own_write(tool: Tool, step: Step) -> bool:
    """A write of agentfab's own that must succeed: its result and change are functions of the state and arguments."""
    return tool.spec.mutates and tool.spec.source in OWN_SOURCES and step.expect_error is None


class Composer(ChainGrowing):
    """Grows plans for one domain over one seeded store, with randomness passed in (depth extensions: `chains`)."""

    def __init__(self, domain: Domain, store: Store, world_seed: int, limits: ComposeLimits = ComposeLimits()):
        self.domain = domain
        self.store = store
        self.world_seed = world_seed
        self.limits = limits
        self.pools = PoolCache(domain, store)
        self.tools = {t.name: t for t in domain.tools}
        self._ids = itertools.count(1)
        self.index = DepthIndex(domain, self.pools)
        self._seen: dict[str, Any] = {}  # temp step id -> its result when executed alone (cleared per plan)
        self._parts: dict[str, dict[str, str]] = {}  # temp step id -> canonical JSON of each argument, when known
        # the steps `width.independent` last accepted, their truth, and the run to go on from (`execute_on`)
        self._ran: tuple[list[Step], Any, list[Any]] | None = None
        # (own read-only tool, canonical arguments) -> its answer on a fresh world, met while exploring (per plan)
        self._alone: dict[tuple[str, str], Any] = {}
        # (own write, canonical arguments) -> (result, change, store) of the write executed alone (per plan)
        self._wrote: dict[tuple[str, str], tuple[Any, dict, Store]] = {}
        self._reads: dict[tuple[str, str], Any] = {}  # (read-only tool, arguments) -> its result or FAILED
        self._starts: dict[tuple[str, str], Any] = {}  # (read-only tool, arguments) -> see `_first_links`
        self._met: dict[tuple[str, str, str], tuple[str, Any, Any]] = {}  # see `_extendable_head`
        self._candidates: dict[tuple[bool, int, bool], list[str]] = {}
        self._family_prefix = canonical_json([domain.name, world_seed])[:-1] + ","
        self._heads: dict[tuple[bool, int], tuple[list[HeadDraw], list[float]]] = {}  # see `_head_catalog`
        self._entity_params = {t.name: entity_params(domain, t) for t in domain.tools}
        # the `pure` tools by name: `self._pure.get(name) is self.tools[name]` (a tool put into `tools` later is not)
        self._pure = {t.name: t for t in domain.tools if pure(t)}
        self._tool_json = {t.name: canonical_json(t.name) for t in domain.tools}  # for `family_of`
        memo_budget.hold(self)

    def forget(self) -> None:
        self._reads.clear()
        self._starts.clear()
        self._met.clear()

    # -- execution -------------------------------------------------------------------------------------------

    def try_call(self, step: Step) -> Any:
        """The result of one call without bindings on a fresh world (FAILED if it fails): what exploring needs.

        A read-only tool of agentfab's own (built-in or declared) answers from the seeded state alone, never from
        the task's id offset, so its answer is looked up once per seeded variant and reused by every task on it;
        one the depth index already executed over its input's every value (`DepthIndex.answers`) is not run again.
        The composed plan is still executed whole by `finish`, and every rollout and replay executes for real."""
        if step.key is None:
            step.key = canonical_json(step.arguments)
        if step.bindings or step.expect_error or self._pure.get(step.tool) is not self.tools[step.tool]:
            executed = self.execute([step])
            return FAILED if executed is None else executed[0][step.id]
        key = (step.tool, step.key)
        found = self._reads.get(key, _MISSING)
        if found is _MISSING and key in self.index.answers:  # the depth index executed this call already
            found = FAILED if is_error(answer := self.index.answers[key]) else answer
        if found is _MISSING:
            if len(self._reads) >= memo_budget.READS_KEPT:  # bounded memory
                self._reads.clear()
            executed = self.execute([step])
            if executed is not None and executed[1]:  # a read that wrote: never reused
                return executed[0][step.id]
            found = self._reads[key] = FAILED if executed is None else executed[0][step.id]
            memo_budget.kept_one()
        if found is not FAILED:
            self._alone[key] = found
        return found

    def execute(self, steps: list[Step]) -> tuple[dict[str, Any], dict[str, dict[str, list[Any]]]] | None:
        """Run the steps on a fresh world, feeding bindings from earlier results; None if any call fails.

        Until a call may have written, an own read-only call whose answer this plan already met on a fresh world
        (`_alone`: exploring executed it alone, with no change to the world) is answered from there: the same
        computation on the same state, so the same result. A step's carried `key` (its arguments' canonical JSON)
        serves while the bindings deliver exactly its recorded arguments. The fresh world is forked when a call
        first executes: a plan answered wholly from what exploring met changes nothing."""
        if len(steps) == 1 and not steps[0].bindings:
            return self._execute_one(steps[0])
        return self.execute_on([None, {}, True], steps)

    def execute_on(self, run: list[Any], steps: list[Step]
                   ) -> tuple[dict[str, Any], dict[str, dict[str, list[Any]]]] | None:
        """`execute` of the steps after those `run` executed already: `run` is [its world (None until a call
        wrote or read it), its results, whether nothing could have written yet], as an `execute` left it, and is
        carried on; it is spent ([None, None, False]) when the steps fail or the last is answered from a write
        met alone (its world never made that write). The same calls in the same order on the same world as
        executing all the steps at once, so the same results (`width.independent` goes on from the members it
        accepted)."""
        world, results, pristine = run
        run[:] = None, None, False  # spent, unless the steps below all execute
        last = steps[-1] if steps else None
        for step in steps:
            key = step.key
            args = step.arguments  # a call never changes its arguments (tools take them as keywords)
            if step.bindings:
                args = dict(args)
                for param, ref in step.bindings.items():
                    source, _, name = ref.partition(".")
                    value = args[param] = results[source][name]
                    if key is not None and not _same_scalar(step.arguments.get(param, _MISSING), value):
                        key = None
            tool = self.tools[step.tool]
            result = _MISSING
            if pristine and self._alone and self._pure.get(step.tool) is tool:
                if key is None:
                    key = canonical_json(args)
                result = self._alone.get((step.tool, key), _MISSING)
            elif pristine and step is last and self._wrote and _own_write(tool, step):
                if key is None:
                    key = canonical_json(args)
                wrote = self._wrote.get((step.tool, key))
                if wrote is not None and wrote[2] is self.store:  # the same write on the same state, met alone
                    results[step.id] = wrote[0]
                    return results, wrote[1]
            if result is _MISSING:
                if world is None:
                    world = self.store.fork()
                result = tool.invoke(world, args, key)
                pristine = pristine and self._pure.get(step.tool) is tool and not world.diff()
            if not _as_expected(result, step.expect_error):
                return None
            results[step.id] = result
        run[:] = world, results, pristine
        return results, (world.diff() if world is not None else {})

    def _execute_one(self, step: Step) -> tuple[dict[str, Any], dict[str, dict[str, list[Any]]]] | None:
        """`execute([step])` for one step without bindings (most of what exploring executes: a head, an atomic
        call): the same answers met alone, the same write met alone, else the same call on a fresh world; the
        world's diff is read once."""
        tool = self.tools[step.tool]
        key = step.key
        result = _MISSING
        world = None
        if self._pure.get(step.tool) is tool:
            if self._alone:
                if key is None:
                    key = canonical_json(step.arguments)
                result = self._alone.get((step.tool, key), _MISSING)
        elif self._wrote and _own_write(tool, step):
            if key is None:
                key = canonical_json(step.arguments)
            wrote = self._wrote.get((step.tool, key))
            if wrote is not None and wrote[2] is self.store:  # the same write on the same state, met alone
                return {step.id: wrote[0]}, wrote[1]
        if result is _MISSING:
            world = self.store.fork()
            result = tool.invoke(world, step.arguments, key)
        if not _as_expected(result, step.expect_error):
            return None
        diff = world.diff() if world is not None else {}
        if _own_write(tool, step):
            if step.key is None:
                step.key = canonical_json(step.arguments)
            self._wrote[(step.tool, step.key)] = (result, diff, self.store)
        return {step.id: result}, diff

    def _new_id(self) -> str:
        return f"t{next(self._ids)}"

    # -- atomic ----------------------------------------------------------------------------------------------

    def atomic(self, rng: random.Random, *, read_only: bool = False, reach: int = 1,
               with_args: bool = False) -> Step | None:
        """One call with sampled arguments that really succeeds on a fresh world.

        `reach` keeps only tools that can head a chain of that many calls in this domain's entity graph.
        """
        names = self._candidate_tools(read_only, reach, with_args)
        if not names:
            return None
        for _ in range(self.limits.attempts):
            tool = self.tools[names[rng._randbelow(len(names))]]
            step = Step(self._new_id(), tool.name, sample_arguments(tool, self.pools, rng))
            result = self.try_call(step)
            if result is not FAILED:
                self._seen[step.id] = result
                return step
        return None

    def _candidate_tools(self, read_only: bool, reach: int, with_args: bool) -> list[str]:
        """Tools an atomic task may use (computed once; never draws from an rng, so a cache never shifts a stream)."""
        names = self._candidates.get((read_only, reach, with_args))
        if names is None:
            names = self._candidates[(read_only, reach, with_args)] = [
                t.name for t in self.domain.tools
                if not (read_only and t.spec.mutates) and self.index.reach[t.name] >= reach
                and (t.spec.parameters.get("required") or not with_args)
            ]
        return names

    def family_of(self, step: Step) -> str:
        """`canonical_json([domain, world seed, tool, arguments])`, hashed; built from the step's carried key."""
        if step.key is None:
            step.key = canonical_json(step.arguments)
        key = f"{self._family_prefix}{self._tool_json[step.tool]},{step.key}]"
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    # -- finishing -------------------------------------------------------------------------------------------

    def finish(self, kind: str, members: list[list[Step]], family: str) -> Plan | None:
        """Renumber steps s1..sn (level by level), execute the plan once more and record its truth.

        The steps are renamed in place: every step a plan is finished from was made for this plan alone (by this
        call of `compose`), and nothing reads it by its temporary id afterwards."""
        if len(members) == 1:
            order = members[0]
        else:  # level by level, members in order within a level (as sorting by (level, member) orders them)
            order = [member[level] for level in range(max(map(len, members))) for member in members
                     if level < len(member)]
        rename = {s.id: f"s{i}" for i, s in enumerate(order, 1)}
        ids = [[rename[s.id] for s in m] for m in members]
        ran = self._ran
        results = None
        if ran is not None and len(ran[0]) == len(order) and all(
                a is b and not a.bindings for a, b in zip(ran[0], order)):
            results = {rename[s.id]: ran[1][0][s.id] for s in ran[0]}  # what `width.independent` just executed
            diff = ran[1][1]
        for s in order:
            if s.bindings:
                bindings = {}
                for p, r in s.bindings.items():
                    source, _, name = r.partition(".")
                    bindings[p] = f"{rename[source]}.{name}"
                s.bindings = bindings
            if s.depends_on:
                s.depends_on = [rename[d] for d in s.depends_on]
            s.id = rename[s.id]
        steps = order if len(members) > 1 else list(order)
        if results is None:
            executed = self.execute(steps)
            if executed is None:
                return None
            results, diff = executed
        if diff and not any(self.tools[s.tool].spec.mutates for s in steps):
            return None  # a tool declared read-only changed the world: its plan cannot be trusted
        for step in steps:  # the recorded arguments are exactly what the bindings delivered
            if step.bindings:
                for param, ref in step.bindings.items():
                    source, _, name = ref.partition(".")
                    if results[source][name] != step.arguments[param]:
                        return None
        return Plan(
            kind=kind,
            steps=steps,
            members=ids,
            results=results,
            state_diff=diff,
            family=family,
            depth=max(map(len, members), default=0),
            width=len(members),
        )

    def compose(self, kind: str, rng: random.Random) -> Plan | None:
        """A plan of the given kind, or None when this domain cannot make one (the caller picks another)."""
        for memo in (self._seen, self._parts, self._alone, self._wrote):  # per plan
            if memo:
                memo.clear()
        self._ran = None
        lim = self.limits
        if kind == "failure":
            from agentfab.generators.failure_plans import compose_failure  # it builds on this class

            return compose_failure(self, rng)
        if kind == "partial":  # the doable part: one call (the undoable part is phrased, never composed)
            kind = "single"
        if kind == "clarify":
            from agentfab.generators.clarify import compose_clarify  # it builds on this class

            return compose_clarify(self, rng)
        if kind == "single":
            step = self.atomic(rng)
            return self.finish(kind, [[step]], self.family_of(step)) if step else None
        if kind in ("chain", "multi_turn"):
            chain = self.chain(between(rng, 2, lim.max_depth), rng) or self.chain(2, rng)
            if chain is None:
                return None
            if kind == "multi_turn":
                turns = between(rng, 2, min(3, len(chain)))
                cuts = sorted(sample(rng, range(1, len(chain)), turns - 1))
                for i, step in enumerate(chain):
                    step.turn = sum(1 for c in cuts if i >= c)
            return self.finish(kind, [chain], self.family_of(chain[-1]))
        if kind in ("parallel", "compound"):
            from agentfab.generators.width import compose_width  # it builds on this class

            return compose_width(self, kind, rng)
        raise ValueError(f"unknown task kind {kind!r}")
