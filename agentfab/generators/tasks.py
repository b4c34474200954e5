"""Compose tasks over real executions: atomic calls, depth and width extensions, turns, irrelevant and clarify.

Everything is computed, nothing assumed: an atomic task is a call that succeeded on a fresh world; a depth
extension replaces an input of the head call by a call whose real output is that input; width members are kept
only when executing them in either order gives the same results and the same final state.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from bisect import bisect
from typing import AbstractSet, Any

from agentfab.worlds import memo_budget
from agentfab.generators.depth_index import (
    OWN_SOURCES, DepthIndex, Entry, any_fresh, draw_fresh, entity_params, one_key, pure,
)
from agentfab.generators.plans import ComposeLimits, Plan, Step
from agentfab.generators.values import PoolCache, sample_arguments
from agentfab.worlds.core import Domain, Store, Tool, canonical_json, is_error

__all__ = ["FAILED", "ComposeLimits", "Composer", "Plan", "Step"]

FAILED = object()  # `Composer.try_call`: the call failed
Link = tuple[str, Tool, str, Entry]  # a depth extension: (param it feeds, producer, its result field, its call)
HeadDraw = tuple[Tool, str, bool, dict, list[str]]  # (tool, fed parameter, nothing else to draw, inverse index, keys)
# a head met before, made a step only once its chain is kept: (tool, its one argument, the `_met` entry)
MetHead = tuple[Tool, dict, tuple[str, Any, Any]]
_MISSING = object()


def _same_scalar(given: Any, value: Any) -> bool:
    """A bound value that is exactly the recorded argument (same type, so the same canonical JSON)."""
    return type(given) is type(value) and type(value) in (str, int) and given == value


def _own_write(tool: Tool, step: Step) -> bool:
    """A write of agentfab's own that must succeed: its result and change are functions of the state and arguments."""
    return tool.spec.mutates and tool.spec.source in OWN_SOURCES and step.expect_error is None


class Composer:
    """Grows plans for one domain over one seeded store, with randomness passed in."""

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
        self._ran: tuple[list[Step], Any] | None = None  # the steps `width.independent` last executed, and their truth
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
        world = None
        results: dict[str, Any] = {}
        pristine = True
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
            if is_error(result) != (step.expect_error is not None):
                return None
            if step.expect_error is not None and result["error"]["type"] != step.expect_error:
                return None
            results[step.id] = result
        diff = world.diff() if world is not None else {}
        if len(steps) == 1 and not last.bindings and _own_write(self.tools[last.tool], last):
            if last.key is None:
                last.key = canonical_json(last.arguments)
            self._wrote[(last.tool, last.key)] = (results[last.id], diff, self.store)
        return results, diff

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

    # -- depth -----------------------------------------------------------------------------------------------

    def chain(self, depth: int, rng: random.Random, *, read_only: bool = False) -> list[Step] | None:
        """A chain of exactly `depth` calls, each fed by the previous one's output, grown from an atomic task."""
        best: tuple[Step, list[Link]] | None = None
        for attempt in range(self.limits.attempts):
            head, start = self._extendable_head(rng, depth, read_only) or (
                self.atomic(rng, read_only=read_only, reach=depth), None)
            if head is None:
                break
            links = self.extend_depth(head, depth, rng, start)
            if len(links) == depth - 1:
                return self._chain_steps(self._head_step(head), links)
            if links and (best is None or len(links) > len(best[1])):
                best = head, links
            if best is not None and attempt >= 4:
                break  # the world's values rarely allow this depth here: settle for the longest found
        return None if best is None else self._chain_steps(self._head_step(best[0]), best[1])

    def extend_depth(self, head: Step | MetHead, depth: int, rng: random.Random, start: Any = None) -> list[Link]:
        """Feed the head's inputs by calls whose real outputs they are, one after the other, up to `depth` calls
        in all: each link replaces an entity-typed input of the innermost call by a new call.

        The extensions that work are listed from the variant's catalog of producer calls per value, then one is
        drawn: a parameter, a producer of it, one of its inputs, each uniformly among those that work. A producer
        the chain already uses, or whose input the chain already states (its arguments, and what the innermost
        call returns alone: a round trip), does not work. Each link is (param it feeds, tool, field, entry).
        `start`: the head's `_first_links`, when the caller has them."""
        links: list[Link] = []
        if depth < 2:
            return links
        stated, returned, options = start if start is not None else self._first_links(head)
        said: AbstractSet[str] = stated  # copied to a set when a second link is drawn (most chains stop first)
        used = {head[0].name if type(head) is tuple else head.tool}  # a `MetHead` is a tuple
        while options:
            param, working = options[rng._randbelow(len(options))] if len(options) > 1 else options[0]
            tool, out_field, entries = working[rng._randbelow(len(working))] if len(working) > 1 else working[0]
            entry = draw_fresh(entries, said, returned, rng)
            links.append((param, tool, out_field, entry))
            if len(links) == depth - 1:
                break
            used.add(tool.name)
            said = {*said, entry[2]}
            returned = frozenset()  # `links_into` leaves out what the new innermost call returns
            n = len(said)  # more entries than excluded values always leave a fresh one (`any_fresh`)
            working = [(producer, field, entries)
                       for producer, field, entries in self.index.links_into(self.store, tool, entry)
                       if producer.name not in used and (len(entries) > n or any_fresh(entries, said, returned))]
            options = [(next(iter(entry[0])), working)] if working else []
        return links

    def _first_links(self, head: Step) -> tuple[frozenset[str], frozenset[str], list[tuple[str, list[Any]]]]:
        """What the head states and returns (canonical values), and (param, [(producer, field, entries)]) of each
        input of the head a producer call can feed without a round trip. A function of the head's call alone for an
        own read-only tool, so kept per variant: a head drawn again (most fail to grow deep enough) reuses it."""
        key = (head.tool, head.key) if head.key is not None and self._pure.get(head.tool) is self.tools[head.tool] \
            else None
        found = self._starts.get(key) if key is not None else None
        if found is not None:
            return found
        canonical = self._parts.get(head.id) or {p: canonical_json(v) for p, v in head.arguments.items()}
        said = frozenset(canonical.values())
        result = self._seen.get(head.id)
        returned = self.index.canonical_values(result) if isinstance(result, dict) else frozenset()
        options = []
        for param, entity in self._entity_params[head.tool]:
            if param in canonical:
                feeders = self.index.feeders(self.store, entity).get(canonical[param], ())
                working = [(tool, out_field, entries) for tool, out_field, entries in feeders
                           if tool.name != head.tool and any_fresh(entries, said, returned)]
                if working:
                    options.append((param, working))
        found = said, returned, options
        if key is not None:
            if len(self._starts) >= memo_budget.READS_KEPT:  # bounded memory
                self._starts.clear()
            self._starts[key] = found
            memo_budget.kept_one()
        return found

    def _chain_steps(self, head: Step, links: list[Link]) -> list[Step]:
        """The chain as steps, innermost call first: each link's call feeds the step after it. Each step is made
        once, with its binding, from the innermost call out."""
        steps = [head] * (len(links) + 1)  # the head stays last
        feeds: tuple[str, str, str] | None = None  # (param, source id, field) the step made next is fed by
        for i in range(len(links)):
            _, tool, out_field, entry = links[-1 - i]
            sid, key = self._new_id(), one_key(next(iter(entry[0])), entry[2])
            steps[i] = Step(sid, tool.name, dict(entry[0]), key=key) if feeds is None else Step(
                sid, tool.name, dict(entry[0]), {feeds[0]: f"{feeds[1]}.{feeds[2]}"}, [feeds[1]], key=key)
            self._seen[sid] = entry[1]
            if (tool.name, out_field) in self.index.clean:
                self._alone[(tool.name, key)] = entry[1]
            feeds = links[-1 - i][0], sid, out_field
        if feeds is not None:
            steps[-1] = Step(head.id, head.tool, dict(head.arguments), {feeds[0]: f"{feeds[1]}.{feeds[2]}"},
                             [feeds[1]], head.turn, key=head.key)
        return steps

    def _extendable_head(self, rng: random.Random, depth: int, read_only: bool) -> tuple[Step, Any] | None:
        """An atomic call whose entity input is a value some producer really outputs, so the chain can grow; with
        its `_first_links` when they are known already (else None).

        Still an ordinary atomic task (the call is executed and must succeed); only the choice of value is aimed:
        (tool, parameter, producer) is drawn in one draw from the variant's catalog of those whose producer outputs
        anything, weighted as drawing the tool, then a fed parameter, then a producer uniformly would. A call of an
        own read-only tool with that one argument is a function of the variant's state: what it answers and what
        links it starts are kept per (tool, parameter, value), so a head drawn again (most chains fail to grow deep
        enough and are drawn anew) costs lookups, with the same draws."""
        heads, weights = self._heads.get((read_only, depth)) or self._head_catalog(read_only, depth)
        if not heads:
            return None
        total, last = weights[-1] + 0.0, len(heads) - 1
        for _ in range(4):
            # as `rng.choices(heads, cum_weights=weights)` draws (one random(), bisected)
            tool, param, alone, index, keys = heads[bisect(weights, rng.random() * total, 0, last)]
            args = {} if alone else sample_arguments(tool, self.pools, rng)
            said = keys[rng._randbelow(len(keys))]
            args[param] = index[said][0]
            met = self._met.get((tool.name, param, said)) if alone else None
            if met is not None:  # (key, answer or FAILED, first links), as try_call and _first_links found them
                if met[1] is FAILED:
                    continue
                return (tool, args, met), met[2]
            step = Step(self._new_id(), tool.name, args, key=one_key(param, said) if alone else None)
            result = self.try_call(step)
            if result is not FAILED:
                self._seen[step.id] = result
                if alone:
                    self._parts[step.id] = {param: said}
            if alone and self._pure.get(tool.name) is tool and (
                    (key := (tool.name, step.key)) in self._reads or key in self.index.answers):  # not a read that wrote
                start = None if result is FAILED else self._first_links(step)
                if len(self._met) >= memo_budget.READS_KEPT:  # bounded memory
                    self._met.clear()
                self._met[(tool.name, param, said)] = (step.key, result, start)
                memo_budget.kept_one()
                if result is not FAILED:
                    return step, start
            elif result is not FAILED:
                return step, None
        return None

    def _head_step(self, head: Step | MetHead) -> Step:
        """The step of a head met before (`MetHead`), made once its chain is kept (most are not); a step as it is."""
        if type(head) is not tuple:
            return head  # type: ignore[return-value]
        tool, args, met = head
        step = Step(self._new_id(), tool.name, args, key=met[0])
        self._alone[(tool.name, met[0])] = met[1]  # `finish` answers the call from there
        return step

    def _head_catalog(self, read_only: bool, depth: int) -> tuple[list[HeadDraw], list[float]]:
        """`DepthIndex.heads` for the candidate tools of a chain of `depth`, with each producer's inverse index and
        its keys at hand (once per variant, read-only flag and depth)."""
        found = self._heads.get((read_only, depth))
        if found is None:
            heads, weights = self.index.heads(self.store, self._candidate_tools(read_only, depth, False))
            found = self._heads[(read_only, depth)] = (
                [(tool, param, alone, self.index.inverse(self.store, *producer),
                  self.index.keys[(producer[0].name, producer[2])]) for tool, param, producer, alone in heads],
                weights)
        return found

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
            depth=max((len(m) for m in members), default=0),
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
            chain = self.chain(rng.randint(2, lim.max_depth), rng) or self.chain(2, rng)
            if chain is None:
                return None
            if kind == "multi_turn":
                turns = rng.randint(2, min(3, len(chain)))
                cuts = sorted(rng.sample(range(1, len(chain)), turns - 1))
                for i, step in enumerate(chain):
                    step.turn = sum(1 for c in cuts if i >= c)
            return self.finish(kind, [chain], self.family_of(chain[-1]))
        if kind in ("parallel", "compound"):
            from agentfab.generators.width import compose_width  # it builds on this class

            return compose_width(self, kind, rng)
        raise ValueError(f"unknown task kind {kind!r}")
