"""Depth extensions: a chain of calls, each fed by the next one's real output, grown from an atomic head.

The chain-growing half of `tasks.Composer` (it inherits this class): drawing a head whose input some producer
really outputs, the links that can feed it (from the variant's `DepthIndex`), and the chain as steps. Most attempts
fail to grow deep enough, so what a head starts is kept per variant and a met head becomes a step only once its
chain is kept.
"""

from __future__ import annotations

import random
from bisect import bisect
from typing import TYPE_CHECKING, AbstractSet, Any

from agentfab.worlds import memo_budget
from agentfab.generators.depth_index import Entry, any_fresh, draw_fresh, one_key
from agentfab.generators.plans import FAILED, Step
from agentfab.generators.values import sample_arguments
from agentfab.worlds.core import Tool, canonical_json

if TYPE_CHECKING:
    from agentfab.generators.depth_index import DepthIndex
    from agentfab.generators.plans import ComposeLimits
    from agentfab.generators.values import PoolCache
    from agentfab.worlds.core import Store

Link = tuple[str, Tool, str, Entry]  # a depth extension: (param it feeds, producer, its result field, its call)
HeadDraw = tuple[Tool, str, bool, dict, list[str]]  # (tool, fed parameter, nothing else to draw, inverse index, keys)
# a head met before, made a step only once its chain is kept: (tool, its one argument, the `_met` entry)
MetHead = tuple[Tool, dict, tuple[str, Any, Any]]


class ChainGrowing:
    """The depth methods of `Composer`: they read and fill its per-variant memos (`_met`, `_starts`, `_heads`)
    and its per-plan ones (`_seen`, `_parts`, `_alone`)."""

    # what the methods below use of `Composer` (set by its __init__)
    limits: ComposeLimits
    store: Store
    pools: PoolCache
    index: DepthIndex
    tools: dict[str, Tool]
    _pure: dict[str, Tool]
    _entity_params: dict[str, list[tuple[str, str]]]
    _seen: dict[str, Any]
    _parts: dict[str, dict[str, str]]
    _alone: dict[tuple[str, str], Any]
    _starts: dict[tuple[str, str], Any]
    _met: dict[tuple[str, str, str], tuple[str, Any, Any]]
    _heads: dict[tuple[bool, int], tuple[list[HeadDraw], list[float]]]

    if TYPE_CHECKING:
        def atomic(self, rng: random.Random, *, read_only: bool = False, reach: int = 1,
                   with_args: bool = False) -> Step | None: ...
        def try_call(self, step: Step) -> Any: ...
        def _new_id(self) -> str: ...
        def _candidate_tools(self, read_only: bool, reach: int, with_args: bool) -> list[str]: ...

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
        call returns alone: a round trip), does not work; the chain stops where a drawn producer's result already
        holds all the call it feeds returns (that call would be wasted). Each link is (param it feeds, tool, field,
        entry).
        `start`: the head's `_first_links`, when the caller has them."""
        links: list[Link] = []
        if depth < 2:
            return links
        stated, returned, options = start if start is not None else self._first_links(head)
        said: AbstractSet[Any] = stated  # copied to a set when a second link is drawn (most chains stop first)
        used = {head[0].name if type(head) is tuple else head.tool}  # a `MetHead` is a tuple
        fed = head[2][1] if type(head) is tuple else self._seen.get(head.id)  # what the call a link feeds returns
        while options:
            param, working = options[rng._randbelow(len(options))] if len(options) > 1 else options[0]
            tool, out_field, entries = working[rng._randbelow(len(working))] if len(working) > 1 else working[0]
            entry = draw_fresh(entries, said, returned, rng)
            if type(fed) is dict and type(entry[1]) is dict and fed.items() <= entry[1].items():
                break  # the call it feeds would return nothing new: get_event after get_next_event gave the event
            links.append((param, tool, out_field, entry))
            fed = entry[1]
            if len(links) == depth - 1:
                break
            used.add(tool.name)
            said = {*said, entry[3]}
            returned = frozenset()  # `links_into` leaves out what the new innermost call returns
            n = len(said)  # more entries than excluded values always leave a fresh one (`any_fresh`)
            working = [(producer, field, entries)
                       for producer, field, entries in self.index.links_into(self.store, tool, entry)
                       if producer.name not in used and (len(entries) > n or any_fresh(entries, said, returned))]
            options = [(next(iter(entry[0])), working)] if working else []
        return links

    def _first_links(self, head: Step) -> tuple[frozenset[Any], frozenset[Any], list[tuple[str, list[Any]]]]:
        """What the head states and returns (`value_keys`), and (param, [(producer, field, entries)]) of each input
        of the head a producer call can feed without a round trip. A function of the head's call alone for an own
        read-only tool, so kept per variant: a head drawn again (most fail to grow deep enough) reuses it."""
        key = (head.tool, head.key) if head.key is not None and self._pure.get(head.tool) is self.tools[head.tool] \
            else None
        found = self._starts.get(key) if key is not None else None
        if found is not None:
            return found
        args = head.arguments
        parts = self._parts.get(head.id)  # a head drawn with its one argument: that argument's canonical JSON
        keys_of = self.index.keys_of
        said = keys_of(args.values())
        result = self._seen.get(head.id)
        returned = keys_of(result.values()) if isinstance(result, dict) else frozenset()
        options = []
        for param, entity in self._entity_params[head.tool]:
            if param in args:
                value = parts[param] if parts is not None else canonical_json(args[param])
                feeders = self.index.feeders(self.store, entity).get(value, ())
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
        if feeds is not None:  # the head step was made for this chain alone: it takes its binding in place
            head.bindings = {feeds[0]: f"{feeds[1]}.{feeds[2]}"}
            head.depends_on = [feeds[1]]
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
