"""The named stages of a shard: compose -> phrase -> roll out -> verify -> judge -> dedup -> write.

Each stage is a small typed object with one job. The offline implementations here are the default engine; an LLM
engine replaces `phrase`, `roll out` and `judge` with implementations of the same protocols. Randomness is owned
by the stage that uses it (one seeded stream each), so stages can be swapped without shifting anyone else's draws.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentfab.flows.recipe import Recipe
from agentfab.flows.rows import ShardRows, dataset_row
from agentfab.generators.nearmiss import near_miss
from agentfab.generators.negatives import EXPECTED_CODE, make_negative
from agentfab.generators.queries import render_step, to_task
from agentfab.generators.rollouts import OracleAgent
from agentfab.generators.tasks import ComposeLimits, Composer, Plan, Step
from agentfab.generators.value_bank import ValueBank
from agentfab.generators.values import PoolCache, sample_arguments
from agentfab.schemas.codes import Reason
from agentfab.schemas.tasks import TASK_KINDS, Task
from agentfab.validators.dedup import Deduper, exact_key
from agentfab.validators.judge import Judge
from agentfab.validators.reading import Reading
from agentfab.validators.verify import Verdict, apply_judge, check
from agentfab.worlds.core import Domain, Store, Tool, ToolRaised

Event = dict[str, Any]

FALLBACK_REQUESTS = (
    "translate 'good morning' into Japanese",
    "write a haiku about autumn rain",
    "tell me who won the 1998 football world cup",
    "convert 30 degrees Celsius to Fahrenheit",
    "summarize the plot of Hamlet in two sentences",
    "recommend a good sci-fi novel",
)


VARIANTS = 8  # seeded states per world, shared by every shard: counts, values and who-holds-what differ
VARIANT_BUDGET = 40  # seeded states in all: a recipe with many domains (synthesized ones) has fewer per domain,
                     # so each variant's indexes serve enough tasks to pay for themselves


def variants_per_world(n_worlds: int) -> int:
    return max(1, min(VARIANTS, VARIANT_BUDGET // max(1, n_worlds)))
ID_OFFSETS = 4000  # a task's world numbers new records after 0..3999 earlier ones: created ids differ per task


class WorldVariant:
    """One seeded state of a domain with its composer and oracle agent.

    Built once per process and reused by every shard (seeding and the composer's indexes are the costly part);
    everything it caches is a pure function of the seeded state, so reuse never changes a row.
    """

    def __init__(self, domain: Domain, seed: int, limits: ComposeLimits, recovery: float):
        self.domain = domain
        self.seed = seed
        self.base = domain.seeded(seed)
        self.composer = Composer(domain, self.base, seed, limits)
        self.agent = OracleAgent(domain, self.base, recovery=recovery)
        self.pools = PoolCache(domain, self.base)

    def at(self, offset: int) -> Store:
        """This task's world: the seeded state with its id offset. The composer and the agent act on it."""
        store = self.base.with_offset(offset)
        self.composer.store = store
        self.agent.store = store
        return store


_VARIANTS: dict[tuple[Any, ...], WorldVariant] = {}


def world_variant(domain: Domain, seed: int, limits: ComposeLimits, recovery: float) -> WorldVariant:
    key = (id(domain), seed, limits, recovery)
    found = _VARIANTS.get(key)
    if found is None or found.domain is not domain:
        if len(_VARIANTS) >= 4096:  # a recipe with hundreds of (synthesized) domains keeps all its variants
            _VARIANTS.clear()
        found = _VARIANTS[key] = WorldVariant(domain, seed, limits, recovery)
    return found


class ShardWorld:
    """One domain of the recipe with its pool of seeded variants; each task draws a variant and an id offset."""

    def __init__(self, ref: str, domain: Domain, seed: int, recipe: Recipe, variants: int = VARIANTS):
        self.ref = ref
        self.domain = domain
        limits = ComposeLimits(max_depth=recipe.tasks.depth.max, max_width=recipe.tasks.width.max)
        self.variants = [world_variant(domain, variant_seed(seed, k), limits, recipe.rollouts.recovery)
                         for k in range(variants)]
        self.pools = self.variants[0].pools

    def for_task(self, rng: random.Random) -> "TaskWorld":
        variant = self.variants[rng._randbelow(len(self.variants))]
        offset = rng._randbelow(ID_OFFSETS)
        return TaskWorld(self.ref, self.domain, variant.seed, offset, variant.at(offset), variant)


def variant_seed(world_seed: int, k: int) -> int:
    """The seed of variant k of a world (the row's provenance keeps it, so replay rebuilds the same state)."""
    return (world_seed + 7919 * k) % (2**63)


@dataclass
class TaskWorld:
    """The world one task is composed, rolled out and replayed in: a variant's state at an id offset."""

    ref: str
    domain: Domain
    seed: int
    offset: int
    store: Store
    variant: WorldVariant

    @property
    def agent(self) -> OracleAgent:
        """The variant's agent, acting on this task's world (rebound on every use: tasks may be interleaved)."""
        self.variant.agent.store = self.store
        return self.variant.agent

    @property
    def composer(self) -> Composer:
        self.variant.composer.store = self.store
        return self.variant.composer


@dataclass
class Draft:
    """A composed task before it is phrased: its plan (None for an irrelevant request) and its world."""

    index: int
    task_id: str
    kind: str
    world: TaskWorld
    plan: Plan | None
    raised: ToolRaised | None = None  # a {python: module} tool raised while composing: the task is rejected
    # the texts of the task's results the oracle's observations were written from (`Rollout.texts`): its checks
    # and rows read them (`Reading.result_texts`)
    texts: tuple[Task, dict[str, str]] | None = None


@dataclass
class Record:
    """One task on its way through the stages; `verdict` collects every stage's reason codes."""

    draft: Draft
    task: Task
    content: list[Event] = field(default_factory=list)
    verdict: Verdict = field(default_factory=Verdict)
    key: str = ""
    reading: Reading | None = None  # what verify, the judge and the negatives read off `content`, read once

    @property
    def offered(self) -> dict[str, Tool]:
        """The task's tools by name: one mapping per offered list of the domain, shared by its tasks (read only)."""
        domain = self.draft.world.domain
        known: dict[tuple[str, ...], dict[str, Tool]] = domain.memo("offered_tools", dict)
        key = tuple(self.task.tools)
        found = known.get(key)
        if found is None:
            if len(known) >= 4096:  # offered lists rarely repeat more than a shard's
                known.clear()
            found = known[key] = {n: domain.tool(n) for n in key}
        return found


class Compose:
    """Stage 1: pick a kind and a world, compose a plan over real executions (falling back to `single`)."""

    def __init__(self, recipe: Recipe, worlds: list[ShardWorld], rng: random.Random):
        self.recipe, self.worlds, self.rng = recipe, worlds, rng
        mix = recipe.tasks.mix
        self.kinds = [k for k in TASK_KINDS if mix.get(k, 0) > 0]
        self.weights = [mix[k] for k in self.kinds]
        self._cumulative = list(itertools.accumulate(self.weights))  # what rng.choices sums per draw, summed once
        self._total = self._cumulative[-1] + 0.0
        self.fallbacks: Counter[str] = Counter()

    def __call__(self, index: int, task_id: str) -> Draft:
        rng = self.rng
        # as `rng.choices(self.kinds, cum_weights=...)` draws (one random(), bisected); `_randbelow(n)` is the draw
        # of `randrange(n)` without its checks (n > 0 here)
        kind = self.kinds[bisect(self._cumulative, rng.random() * self._total, 0, len(self.kinds) - 1)]
        first = self.worlds[rng._randbelow(len(self.worlds))]
        world = first.for_task(rng)
        plan = None
        here = world
        try:
            if kind != "irrelevant":
                plan = world.composer.compose(kind, rng)
                for candidate in self.worlds if plan is None else ():  # the drawn world first, then the others
                    if candidate is not first:
                        here = candidate.for_task(rng)
                        plan = here.composer.compose(kind, rng)
                        if plan is not None:
                            world = here
                            break
                if plan is None:
                    self.fallbacks[kind] += 1
                    kind = "single"
                    world = here = first.for_task(rng)
                    plan = world.composer.compose("single", rng)
        except ToolRaised as exc:
            return Draft(index, task_id, kind, here, None, raised=exc)
        return Draft(index, task_id, kind, world, plan)


class Phrase(Protocol):
    def __call__(self, draft: Draft) -> Task: ...


class TemplatePhrase:
    """Stage 2 (offline): render the user turns from templates; shares the composer's stream, as it always did."""

    def __init__(self, recipe: Recipe, worlds: list[ShardWorld], rng: random.Random):
        self.distractors, self.worlds, self.rng = recipe.tasks.distractors, worlds, rng
        self._siblings: dict[str, list[tuple[ShardWorld, list[Tool]]]] = {}  # per domain, for this shard's worlds

    def __call__(self, draft: Draft) -> Task:
        rng, world = self.rng, draft.world
        foreign, near = "", None
        if draft.kind in ("irrelevant", "partial"):  # half the irrelevant requests are near misses of this domain
            missed = near_miss(world.domain, world.variant.pools, rng) if (
                draft.kind == "partial" or rng.random() < 0.5) else None
            if missed is not None:
                foreign, near = missed
            else:
                foreign = self._foreign_request(world)
        return to_task(draft.plan, world.domain, rng, task_id=draft.task_id, kind=draft.kind,
                       distractors=self.distractors, foreign_request=foreign,
                       near_tools=near if draft.kind == "irrelevant" else None)

    def _foreign_request(self, here: TaskWorld) -> str:
        """A request another domain serves and this one cannot: from a sibling (a domain sharing entity types with
        this one, so it sounds answerable) when there is one, and never through a tool this domain also has."""
        rng = self.rng
        found = foreign_tool(here.domain, self.worlds, rng, self._siblings)
        if found is None:
            return FALLBACK_REQUESTS[rng._randbelow(len(FALLBACK_REQUESTS))]
        w, tool = found
        return render_step(Step("x", tool.name, sample_arguments(tool, w.pools, rng)), tool, rng)


def foreign_tool(here: Domain, worlds: list[ShardWorld], rng: random.Random,
                 siblings: dict[str, list[tuple[ShardWorld, list[Tool]]]] | None = None
                 ) -> tuple[ShardWorld, Tool] | None:
    """A tool of a sibling domain (most entity types in common) that `here` has no tool of the same name for.

    `siblings` keeps each domain's candidates for callers that always pass the same `worlds` (a shard's stage)."""
    others = siblings.get(here.name) if siblings is not None else None
    if others is None:
        others = _sibling_tools(here, worlds)
        if siblings is not None:
            siblings[here.name] = others
    if not others:
        return None
    w, tools = others[rng._randbelow(len(others))]
    return w, tools[rng._randbelow(len(tools))]


def _sibling_tools(here: Domain, worlds: list[ShardWorld]) -> list[tuple[ShardWorld, list[Tool]]]:
    """The worlds `foreign_tool` draws from (those with most entity types in common), each with its usable tools."""
    mine = _entity_types(here)
    own = here.memo("tool_names", lambda: {t.name for t in here.tools})
    others = [(w, [t for t in w.domain.tools if t.name not in own]) for w in worlds if w.domain.name != here.name]
    others = [(w, tools) for w, tools in others if tools]
    if not others:
        return others
    overlap = [len(_entity_types(w.domain) & mine) for w, _ in others]
    if max(overlap) > 0:
        others = [o for o, n in zip(others, overlap) if n == max(overlap)]
    return others


def _entity_types(domain: Domain) -> frozenset[str]:
    """The entity types a domain's tools take (`customer_id`, `order_id`): what makes two domains siblings."""
    return domain.memo("entity_types", lambda: frozenset(
        p["x-entity"] for t in domain.tools for p in t.spec.parameters.get("properties", {}).values()
        if isinstance(p, dict) and "x-entity" in p))


class RollOut(Protocol):
    def __call__(self, draft: Draft, task: Task) -> list[Event]: ...


class OracleRollOut:
    """Stage 3 (offline): the oracle follows the plan in a fresh copy of the world."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def __call__(self, draft: Draft, task: Task) -> list[Event]:
        # the plan's results as composing met them in this world: the calls are not run a second time
        rollout = draft.world.agent.roll_out(task, self.rng, task.results)
        draft.texts = rollout.texts
        return rollout.content


def verify_stage(record: Record) -> None:
    """Stage 4: schema, execution replay, ground truth and rules; every failure becomes a reason code."""
    record.reading = Reading(record.content, record.draft.texts)
    record.verdict = check(record.task, record.content, record.offered, record.draft.world.store, record.reading)


@dataclass
class JudgeStage:
    """Stage 5: score the trajectory; below `min_score` is `judge.low_score`."""

    judge: Judge
    min_score: float

    def __call__(self, record: Record) -> None:
        apply_judge(record.verdict, record.task, record.content, self.judge, self.min_score, record.reading)


@dataclass
class DedupStage:
    """Stage 6: exact and near duplicates of rows accepted earlier in this shard (order matters: run in row order)."""

    deduper: Deduper

    def __call__(self, record: Record) -> None:
        record.key = exact_key(record.task, record.content, record.reading)
        if record.verdict.passed:
            arguments = record.reading.plan_arguments(record.task) if record.reading is not None else None
            dup = self.deduper.check(record.task, record.content, record.key, arguments)
            if dup:
                record.verdict.add([dup])
            record.verdict.stages.append("dedup")


class Negatives:
    """Beside the stages: a share of tasks also get a deliberately broken trajectory, which must be rejected.

    It learns from accepted rows as they come (their tokens and values), so a negative's wrong values are real
    values seen in accepted data; `finish` counts the negatives that still carry a token no accepted row of the
    shard has (`giveaway`: an upper bound on the build-wide share, since a shard sees less than the build).
    """

    def __init__(self, share: float, judge: JudgeStage, rng: random.Random):
        self.share, self.judge, self.rng = share, judge, rng
        self.counts: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()
        self.bank = ValueBank()
        self._unseen: list[set[str]] = []

    def __call__(self, record: Record, provenance: dict[str, Any], rows: ShardRows) -> None:
        if not self.share:
            return
        if record.verdict.passed:
            read = record.reading
            if read is None:
                self.bank.observe(record.content)
            else:  # the reading's results by call id are the bank's when every event from the environment is one
                self.bank.observe(record.content, read.call_keys, read.stored,
                                  read.observed if read.results == read.from_environment else None)
        if not self.rng.random() < self.share or not record.verdict.passed:
            return  # the broken twin of an accepted row only: a DPO pair needs its chosen side
        task, world = record.task, record.draft.world
        try:
            made = make_negative(task, record.content, world.agent, self.rng, bank=self.bank)
        except ToolRaised:  # a python tool raised on a perturbed call: no negative (its task is already a row)
            return
        if made is None:
            return
        name, content = made
        self._unseen.append(self.bank.unseen(content))
        broken = Record(record.draft, task, content)
        verify_stage(broken)
        self.judge(broken)
        nv = broken.verdict
        self.counts["made"] += 1
        if not nv.passed and EXPECTED_CODE[name] in nv.reasons:
            self.counts["caught_by_expected_code"] += 1
        if nv.passed:  # never written as accepted: it would be a validator bug
            self.counts["escaped"] += 1
            nv.add([(Reason.NEGATIVE_ESCAPED, f"perturbation {name} passed every check")])
        self.codes.update(nv.reasons)
        rows.rejected.append(dataset_row(
            row_id=f"{task.id}-neg", task=task, content=content, verdict=nv, domain=world.domain,
            provenance={**provenance, "negative": name}, dedup_key=exact_key(task, content, broken.reading),
            reading=broken.reading))

    def finish(self) -> None:
        """Count the negatives with a token that no accepted row of the shard has (after the whole shard). Most have
        none unseen even when made, and need no cut of the texts read since the last negative."""
        self.counts["giveaway"] = sum(1 for unseen in self._unseen if unseen and unseen - self.bank.vocab)
