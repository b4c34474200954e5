"""One shard, start to finish, as a plain function: compose tasks, roll out, verify, dedup, write.

This is the unit of Prefect task, retry, parallelism and resume. It runs in a worker process or in-process, and
depends only on the recipe and the shard index, so every machine makes the same rows.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentfab.flows.recipe import DeclaredWorld, PythonWorld, Recipe, WorldRef
from agentfab.flows.rows import dataset_row
from agentfab.flows.storage import paths, write_json, write_rows
from agentfab.generators.negatives import EXPECTED_CODE, make_negative
from agentfab.generators.queries import render_step, to_task
from agentfab.generators.rollouts import OracleAgent
from agentfab.generators.tasks import ComposeLimits, Composer, Step
from agentfab.generators.values import PoolCache, sample_arguments
from agentfab.schemas.tasks import TASK_KINDS
from agentfab.validators.codes import STAGES
from agentfab.validators.dedup import Deduper, exact_key
from agentfab.validators.judge import RuleJudge
from agentfab.validators.verify import verify
from agentfab.worlds.core import Domain, canonical_json
from agentfab.worlds.registry import builtin_domain, declared_domain, python_domain

FALLBACK_REQUESTS = (
    "translate 'good morning' into Japanese",
    "write a haiku about autumn rain",
    "tell me who won the 1998 football world cup",
    "convert 30 degrees Celsius to Fahrenheit",
    "summarize the plot of Hamlet in two sentences",
    "recommend a good sci-fi novel",
)


@dataclass(frozen=True)
class ShardJob:
    recipe: dict[str, Any]  # canonical recipe (Recipe.canonical())
    recipe_hash: str
    recipe_dir: str
    out: str
    shard: int


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts, the same on every machine (never Python's salted hash())."""
    return int.from_bytes(hashlib.sha256(canonical_json(list(parts)).encode()).digest()[:8], "big") >> 1


def load_world(ref: WorldRef, recipe_dir: Path) -> Domain:
    if isinstance(ref, str):
        return builtin_domain(ref)
    if isinstance(ref, PythonWorld):
        return python_domain(ref.python)
    if isinstance(ref, DeclaredWorld):
        if isinstance(ref.declared, dict):
            from agentfab.worlds.declared import declared_domain_from_dict

            return declared_domain_from_dict(ref.declared, source="declared", where="recipe worlds")
        path = Path(ref.declared)
        if not path.is_absolute():
            candidates = [recipe_dir / path, Path.cwd() / path]
            found = [c for c in candidates if c.exists()]
            if not found:
                from agentfab.worlds.declared import DeclaredDomainError

                raise DeclaredDomainError(f"declared domain {ref.declared!r} not found next to the recipe "
                                          f"({candidates[0]}) or in the current folder ({candidates[1]})")
            path = found[0]
        return declared_domain(str(path.resolve()))
    raise TypeError(f"unknown world reference {ref!r}")


def world_label(ref: WorldRef) -> str:
    return ref if isinstance(ref, str) else canonical_json(ref.model_dump())


class _World:
    """One domain's seeded state for this shard, with its composer and agent."""

    def __init__(self, ref: WorldRef, domain: Domain, seed: int, recipe: Recipe):
        self.ref = world_label(ref)
        self.domain = domain
        self.seed = seed
        self.store = domain.seeded(seed)
        limits = ComposeLimits(max_depth=recipe.tasks.depth.max, max_width=recipe.tasks.width.max)
        self.composer = Composer(domain, self.store, seed, limits)
        self.agent = OracleAgent(domain, self.store, recovery=recipe.rollouts.recovery)
        self.pools = PoolCache(domain, self.store)


def _foreign_request(worlds: list[_World], here: _World, rng: random.Random) -> str:
    others = [w for w in worlds if w.domain.name != here.domain.name]
    if not others:
        return FALLBACK_REQUESTS[rng.randrange(len(FALLBACK_REQUESTS))]
    w = others[rng.randrange(len(others))]
    tool = w.domain.tools[rng.randrange(len(w.domain.tools))]
    return render_step(Step("x", tool.name, sample_arguments(tool, w.pools, rng)), tool, rng)


def build_shard(job: ShardJob) -> dict[str, Any]:
    """Build shard `job.shard` and write its files. Returns the stats also written to stats/shard-N.json."""
    recipe = Recipe.model_validate(job.recipe)
    out = Path(job.out)
    t_start = time.perf_counter()
    timings: Counter[str] = Counter()
    shard_seed = derive_seed(recipe.seed, job.shard)
    worlds = [
        _World(ref, load_world(ref, Path(job.recipe_dir)), derive_seed(recipe.seed, job.shard, world_label(ref)), recipe)
        for ref in recipe.worlds
    ]
    timings["seed_worlds"] += time.perf_counter() - t_start
    task_rng = random.Random(shard_seed)
    roll_rng = random.Random(derive_seed(shard_seed, "rollouts"))
    neg_rng = random.Random(derive_seed(shard_seed, "negatives"))
    mix = recipe.tasks.mix
    kinds = [k for k in TASK_KINDS if mix.get(k, 0) > 0]
    weights = [mix[k] for k in kinds]
    judge = RuleJudge()
    min_score = recipe.filters.judge.min_score
    deduper = Deduper(recipe.filters.dedup.near_threshold)
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    funnel = {s: {"entered": 0, "rejected": 0} for s in STAGES}
    reasons: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    negatives: Counter[str] = Counter()
    neg_codes: Counter[str] = Counter()

    for k in range(recipe.shard_records(job.shard)):
        t0 = time.perf_counter()
        kind = task_rng.choices(kinds, weights)[0]
        world = worlds[task_rng.randrange(len(worlds))]
        plan = None
        if kind != "irrelevant":
            for candidate in [world] + [w for w in worlds if w is not world]:
                plan = candidate.composer.compose(kind, task_rng)
                if plan is not None:
                    world = candidate
                    break
            if plan is None:
                fallbacks[kind] += 1
                kind = "single"
                plan = world.composer.compose("single", task_rng)
        task_id = f"{recipe.name}-{job.shard:05d}-{k:06d}"
        task = to_task(plan, world.domain, task_rng, task_id=task_id, kind=kind,
                       distractors=recipe.tasks.distractors,
                       foreign_request=_foreign_request(worlds, world, task_rng) if kind == "irrelevant" else "")
        t1 = time.perf_counter()
        rollout = world.agent.roll_out(task, roll_rng)
        t2 = time.perf_counter()
        offered = {n: world.domain.tool(n) for n in task.tools}
        verdict = verify(task, rollout.content, offered, world.store, judge, min_score)
        key = exact_key(task, rollout.content)
        if verdict.passed:
            dup = deduper.check(task, rollout.content, key)
            if dup:
                verdict.add([dup])
            verdict.stages.append("dedup")
        t3 = time.perf_counter()
        provenance = {
            "recipe_name": recipe.name, "recipe_hash": job.recipe_hash, "seed": recipe.seed, "shard": job.shard,
            "world_seed": world.seed, "world": world.ref, "engine": "offline", "models": "{}", "negative": None,
        }
        row = dataset_row(row_id=task_id, task=task, content=rollout.content, verdict=verdict, domain=world.domain,
                          provenance=provenance, dedup_key=key)
        for stage in verdict.stages:
            funnel[stage]["entered"] += 1
        if verdict.passed:
            accepted.append(row)
        else:
            funnel[verdict.stage]["rejected"] += 1
            reasons.update(verdict.reasons)
            rejected.append(row)
        t4 = time.perf_counter()
        if recipe.negatives and neg_rng.random() < recipe.negatives:
            made = make_negative(task, rollout.content, world.agent, neg_rng)
            if made is not None:
                name, content = made
                nv = verify(task, content, offered, world.store, judge, min_score)
                negatives["made"] += 1
                if not nv.passed and EXPECTED_CODE[name] in nv.reasons:
                    negatives["caught_by_expected_code"] += 1
                if nv.passed:  # never written as accepted: it would be a validator bug
                    negatives["escaped"] += 1
                    nv.add([("negative.escaped", f"perturbation {name} passed every check")])
                neg_codes.update(nv.reasons)
                rejected.append(dataset_row(
                    row_id=f"{task_id}-neg", task=task, content=content, verdict=nv, domain=world.domain,
                    provenance={**provenance, "negative": name}, dedup_key=exact_key(task, content)))
        t5 = time.perf_counter()
        timings["compose"] += t1 - t0
        timings["rollout"] += t2 - t1
        timings["validate"] += t3 - t2
        timings["rows"] += t4 - t3
        timings["negatives"] += t5 - t4

    t_write = time.perf_counter()
    meta = {"recipe_hash": job.recipe_hash, "shard": str(job.shard)}
    p = paths(out, job.shard)
    write_rows(p["rejected"], rejected, meta)
    write_rows(p["accepted"], accepted, meta)
    timings["write"] += time.perf_counter() - t_write
    stats = {
        "shard": job.shard,
        "recipe_hash": job.recipe_hash,
        "rows": {"accepted": len(accepted), "rejected": len(rejected)},
        "tasks": recipe.shard_records(job.shard),
        "funnel": funnel,
        "reasons": dict(sorted(reasons.items())),
        "fallbacks": dict(sorted(fallbacks.items())),
        "negatives": dict(sorted(negatives.items())),
        "negative_reasons": dict(sorted(neg_codes.items())),
        "distributions": _distributions(accepted),
        "timings": {k: round(v, 4) for k, v in sorted(timings.items())},
        "seconds": round(time.perf_counter() - t_start, 4),
    }
    write_json(p["stats"], stats)
    return stats


def _distributions(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    dist: dict[str, Counter[str]] = {k: Counter() for k in ("domain", "kind", "depth", "width", "n_turns", "n_calls",
                                                           "tools_used")}
    for r in rows:
        for key in ("domain", "kind", "depth", "width", "n_turns", "n_calls"):
            dist[key][str(r[key])] += 1
        dist["tools_used"].update(r["tools_used"])
    return {k: dict(sorted(v.items())) for k, v in dist.items()}


def shard_stats_json(stats: dict[str, Any]) -> str:
    return json.dumps(stats, sort_keys=True)
