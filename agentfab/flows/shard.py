"""One shard, start to finish, as a plain function wiring the stages of `flows.stages`.

This is the unit of Prefect task, retry, parallelism and resume. It runs in a worker process or in-process, and
depends only on the recipe and the shard index, so every machine makes the same rows.
"""

from __future__ import annotations

import gc
import hashlib
import random
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from agentfab.flows import process_memory
from agentfab.flows.recipe import Recipe
from agentfab.flows.rows import DISTRIBUTED, Distributions, ShardRows
from agentfab.flows.stages import (Compose, DedupStage, Draft, JudgeStage, Negatives, OracleRollOut, Phrase, Record,
                                   RollOut, ShardWorld, TaskWorld, TemplatePhrase, variants_per_world, verify_stage)
from agentfab.flows.storage import paths, read_stats, shard_name, write_json, write_rows, write_text
from agentfab.schemas.manifest import NegativeCounts, RowCounts, ShardStats
from agentfab.validators.dedup import Deduper
from agentfab.validators.judge import RuleJudge
from agentfab.flows.worlds import expand_worlds
from agentfab.worlds.core import ToolRaised, canonical_json

if TYPE_CHECKING:  # an offline shard never loads the LLM stages (their client library costs a second to import)
    from agentfab.flows.llm_stages import LLMStages
    from agentfab.schemas.tasks import Task


@dataclass(frozen=True)
class ShardJob:
    recipe: dict[str, Any]  # canonical recipe (Recipe.canonical())
    recipe_hash: str
    recipe_dir: str
    out: str
    shard: int
    version: int = 1  # a dataset version after the first: its recipe carries that version's seed
    publish: str | None = None  # the store URL the shard's files go to once written (flows/object_store.py)

    def task_id(self, name: str, k: int) -> str:
        """The id of task `k` of this shard, offline and LLM alike; ids of later versions never collide with
        earlier ones: name-00000-000000, then name-v0002-00000-000000."""
        infix = "" if self.version == 1 else f"v{self.version:04d}-"
        return f"{name}-{infix}{self.shard:05d}-{k:06d}"


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed from any parts, the same on every machine (never Python's salted hash())."""
    return int.from_bytes(hashlib.sha256(canonical_json(list(parts)).encode()).digest()[:8], "big") >> 1


# What the per-stage timings of a shard's stats measure: wall seconds. A benchmark on a shared machine may set it
# to time.thread_time (the CPU seconds of the thread building the shard) before building in-process.
stage_clock = time.perf_counter

_GC_LOCK = threading.Lock()
_GC_SAVED: list[Any] = []  # the thresholds to restore, then one entry per shard running


@contextmanager
def fewer_collections(young: int = 50_000) -> Iterator[None]:
    """Run the garbage collector's young generation every `young` net allocations instead of every 700 while a
    shard is built (0: no automatic collection at all). A task allocates thousands of short-lived objects that
    reference counting frees anyway; what survives is the shard's rows, and each collection walks those again
    (about 10% of a shard's CPU time at the default, 4% at 50,000). An offline shard makes almost no cyclic garbage
    (33 objects for 2,000 tasks, measured with collection off), so it runs with none: the collector runs again, and
    frees those few, once the shard is done. Shards may run in threads of one process: the first one in sets the
    threshold and saves the old one, the last one out restores it."""
    with _GC_LOCK:
        if not _GC_SAVED:
            _GC_SAVED.append(gc.get_threshold())
            gc.set_threshold(young, *_GC_SAVED[0][1:])
        _GC_SAVED.append(None)
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_SAVED.pop()
            if len(_GC_SAVED) == 1:
                gc.set_threshold(*_GC_SAVED.pop())


def build_shard(job: ShardJob) -> dict[str, Any]:
    """Build shard `job.shard` and write its files. Returns the stats also written to stats/shard-N.json.

    The stages (flows.stages) run in row order: compose -> phrase -> roll out -> verify -> judge -> dedup ->
    negatives -> rows, one stage at a time over chunks of CHUNK tasks (`_run_chunk`), then write.
    An LLM shard keeps a young-generation collection (its client's event loop and retries do make cycles).
    """
    uses_llm = Recipe.model_validate(job.recipe).uses_llm
    with fewer_collections(50_000 if uses_llm else 0):
        stats = _build_shard(job)
    process_memory.step_done("shard")
    return stats


def _build_shard(job: ShardJob) -> dict[str, Any]:
    recipe = Recipe.model_validate(job.recipe)
    out = Path(job.out)
    if job.publish:  # a build to a store: this machine's working copy (the driver's path may not exist here)
        from agentfab.flows.object_store import staging_folder

        out = staging_folder(job.publish)
    t_start = time.perf_counter()
    t_seed = stage_clock()
    timings: Counter[str] = Counter()
    shard_seed = derive_seed(recipe.seed, job.shard)
    domains = expand_worlds(recipe.worlds, Path(job.recipe_dir))
    worlds = [ShardWorld(label, domain, derive_seed(recipe.seed, label), recipe, variants_per_world(len(domains)))
              for label, domain in domains]
    timings["seed_worlds"] += stage_clock() - t_seed
    task_rng = random.Random(shard_seed)
    compose = Compose(recipe, worlds, task_rng)
    phrase: Phrase = TemplatePhrase(recipe, worlds, task_rng)
    roll_out: RollOut = OracleRollOut(random.Random(derive_seed(shard_seed, "rollouts")))
    judge = JudgeStage(RuleJudge(), recipe.filters.judge.min_score)
    dedup = DedupStage(Deduper(recipe.filters.dedup.near_threshold))
    negatives = Negatives(recipe.negatives, judge, random.Random(derive_seed(shard_seed, "negatives")))
    rows = ShardRows()

    llm = None
    if recipe.uses_llm:
        from agentfab.flows.llm_stages import LLMStages

        llm = LLMStages(recipe, out / "cache" / "llm", shard_name(job.shard))
    if llm is not None:
        _run_llm(recipe, job, llm, compose, phrase, roll_out, dedup, negatives, rows, timings)
    n = recipe.shard_records(job.shard) if llm is None else 0
    for start in range(0, n, CHUNK):
        _run_chunk(recipe, job, range(start, min(n, start + CHUNK)), compose, phrase, roll_out, judge, dedup,
                   negatives, rows, timings)

    negatives.finish()
    t_write = stage_clock()
    meta = {"recipe_hash": job.recipe_hash, "shard": str(job.shard)}
    p = paths(out, job.shard, job.version)
    files = {"rejected": write_rows(p["rejected"], rows.rejected, meta)}
    if llm is not None:  # refused answers first: the shard counts as done only once its Parquet files exist
        write_text(out / "rejected" / f"llm-answers-{shard_name(job.shard)}.jsonl", llm.refused_jsonl())
    files["accepted"] = write_rows(p["accepted"], rows.accepted, meta)
    timings["write"] += stage_clock() - t_write
    t_quality = stage_clock()
    quality = rows.quality()  # counted as the rows were made; finalize merges these, it never re-reads the rows
    timings["quality"] += stage_clock() - t_quality
    stats = ShardStats(
        shard=job.shard,
        version=job.version,
        recipe_hash=job.recipe_hash,
        rows=RowCounts(accepted=len(rows.accepted), rejected=len(rows.rejected)),
        files=files,  # checksums and row counts: resume and validate trust a file only if it still matches
        tasks=recipe.shard_records(job.shard),
        funnel=rows.funnel,
        reasons=dict(sorted(rows.reasons.items())),
        fallbacks=dict(sorted(compose.fallbacks.items())),
        negatives=NegativeCounts(**negatives.counts),
        negative_reasons=dict(sorted(negatives.codes.items())),
        distributions=rows.distributions.result(),
        timings={k: round(v, 4) for k, v in sorted(timings.items())},
        seconds=round(time.perf_counter() - t_start, 4),
        llm=llm.stats() if llm is not None else None,
        quality=quality,
    )
    write_stats(p["stats"], stats)
    if job.publish:
        from agentfab.flows.object_store import publish_shard

        publish_shard(job.publish, out, job.shard, job.version)
    return stats.model_dump(mode="json")


CHUNK = 128  # tasks a shard runs stage by stage: each stage's code and data stay warm over a chunk, which stays small


def _run_chunk(recipe: Recipe, job: ShardJob, ks: range, compose: Compose, phrase: Phrase, roll_out: RollOut,
               judge: JudgeStage, dedup: DedupStage, negatives: Negatives, rows: ShardRows,
               timings: Counter[str]) -> None:
    """Tasks `ks` of the shard, one stage at a time over all of them (compose and phrase, roll out, verify + judge +
    dedup, negatives, rows), each stage in row order: a stage draws only from its own stream and reads nothing
    another stage changes for an earlier task, so the rows are those of running each task through every stage in
    turn. A task a `{python: module}` tool raised on leaves the later stages and is rejected in its row's place."""
    t0 = stage_clock()
    drafts: list[Draft] = []
    records: list[Record | None] = []  # None: a tool raised on the task (in `raised`)
    raised: dict[int, tuple[Task | None, ToolRaised]] = {}
    for i, k in enumerate(ks):
        draft = compose(k, job.task_id(recipe.name, k))
        drafts.append(draft)
        try:
            if draft.raised is not None:
                raise draft.raised
            records.append(Record(draft, phrase(draft)))
        except ToolRaised as exc:  # the user's tool code failed: this task alone is rejected, the build goes on
            records.append(None)
            raised[i] = (None, exc)
    t1 = stage_clock()

    def rolled_out(record: Record) -> None:
        record.content = roll_out(record.draft, record.task)

    def validated(record: Record) -> None:
        verify_stage(record)
        judge(record)
        dedup(record)

    _each_left(records, raised, rolled_out)
    t2 = stage_clock()
    _each_left(records, raised, validated)
    t3 = stage_clock()
    provenances = [_provenance(recipe, job, draft.world) for draft in drafts]
    made = ShardRows()  # the negatives' rows, each then put right after its task's rows
    after = []
    for record, provenance in zip(records, provenances):
        if record is not None:
            negatives(record, provenance, made)
        after.append(len(made.rejected))
    t4 = stage_clock()
    rejected, negative, was = rows.rejected, made.rejected, 0
    for i, (draft, record, provenance) in enumerate(zip(drafts, records, provenances)):
        if record is None:
            rows.add_raised(draft, *raised[i], provenance)
        else:
            rows.add(record, provenance)
        if after[i] > was:
            rejected += negative[was:after[i]]
            was = after[i]
    t5 = stage_clock()
    timings["compose"] += t1 - t0
    timings["rollout"] += t2 - t1
    timings["validate"] += t3 - t2
    timings["negatives"] += t4 - t3
    timings["rows"] += t5 - t4


def _each_left(records: list[Record | None], raised: dict[int, tuple[Task | None, ToolRaised]],
               stage: Callable[[Record], None]) -> None:
    """`stage` over the chunk's tasks still in it, in row order; one a tool raised on leaves it (into `raised`)."""
    for i, record in enumerate(records):
        if record is not None:
            try:
                stage(record)
            except ToolRaised as exc:  # the user's tool code failed: this task alone is rejected
                records[i] = None
                raised[i] = (record.task, exc)


def _provenance(recipe: Recipe, job: ShardJob, world: TaskWorld, models: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    return {
        "recipe_name": recipe.name, "recipe_hash": job.recipe_hash, "seed": recipe.seed, "shard": job.shard,
        "world_seed": world.seed, "world_offset": world.offset, "world": world.ref,
        "engine": "llm" if models else "offline", "models": canonical_json(models) if models else "{}",
        "negative": None,
    }


def _run_llm(recipe: Recipe, job: ShardJob, llm: LLMStages, compose: Compose, phrase: Phrase, roll_out: RollOut,
             dedup: DedupStage, negatives: Negatives, rows: ShardRows, timings: Counter[str]) -> None:
    """Compose, phrase and the oracle's rollout in row order (seeded streams), then every record's LLM stages
    concurrently, then dedup and rows in row order again."""
    from agentfab.flows.llm_stages import Item

    t0 = stage_clock()
    llm.prime([w.domain for w in compose.worlds])  # simulated tools answer before any task is composed on them
    n = recipe.shard_records(job.shard)
    intent_rng = random.Random(derive_seed(recipe.seed, job.shard, "intents"))
    wanted = round(recipe.tasks.intents * n)
    pool = llm.propose(compose.worlds, wanted, intent_rng)
    chosen = {k: pool[j % len(pool)] for j, k in enumerate(sorted(intent_rng.sample(range(n), wanted)))} if pool else {}
    items = []
    for k in range(n):
        task_id = job.task_id(recipe.name, k)
        intent = chosen.get(k)
        draft = llm.intent_draft(*intent, k, task_id, intent_rng) if intent else None
        request = intent[1].request if intent and draft is not None else None
        draft = draft or compose(k, task_id)
        task = None
        try:
            if draft.raised is not None:
                raise draft.raised
            task = phrase(draft)
            if request is not None:  # the generator's request in place of the template's, with its own facts
                task = llm.intent_task(draft, task, request)
            item = Item(Record(draft, task), Record(draft, task, roll_out(draft, task)))
        except ToolRaised as exc:  # rejected before any LLM stage runs
            rows.add_raised(draft, task, exc, _provenance(recipe, job, draft.world))
            continue
        if request is not None:
            llm.mark_intent(item)
        items.append(item)
    t1 = stage_clock()
    llm.run(items)
    t2 = stage_clock()
    for item in items:
        dedup(item.record)
        provenance = _provenance(recipe, job, item.record.draft.world, item.info)
        rows.add(item.record, provenance)
        if item.pair:  # the oracle's accepted trajectory of the same task: the chosen side of a dpo pair
            dedup(item.oracle)
            oracle_info = {**item.info, "agent": {"model": "oracle"}}
            oracle_info.pop("user", None)
            oracle_info.pop("judge", None)  # judged by the rule judge
            rows.add(item.oracle, _provenance(recipe, job, item.record.draft.world, oracle_info),
                     row_id=f"{item.record.task.id}-oracle")
        negatives(item.oracle, provenance, rows)
    timings["compose"] += t1 - t0
    timings["llm"] += t2 - t1
    timings["rows"] += stage_clock() - t2


def write_stats(path: Path, stats: ShardStats) -> None:
    write_json(path, stats.model_dump(mode="json", exclude={"llm"} if stats.llm is None else None))


def load_stats(path: Path) -> ShardStats | None:
    """A shard's stats, or None when the shard has not finished (no file, or a file cut short)."""
    raw = read_stats(path)
    return None if raw is None else ShardStats.model_validate(raw)


def distributions(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts of the accepted rows (as read from a file) per value of the columns people filter on (and per tool
    used); a shard's own are counted as its rows are made (`ShardRows.distributions`)."""
    dist = Distributions()
    for r in rows:
        dist.add([r[key] for key in DISTRIBUTED], r["tools_used"])
    return dist.result()


def subtract_distributions(counts: dict[str, dict[str, int]], removed: dict[str, dict[str, int]]
                           ) -> dict[str, dict[str, int]]:
    """`counts` without the rows counted in `removed` (rows moved out of a shard); values that reach 0 go."""
    out = {}
    for name, values in counts.items():
        left = Counter(values)
        left.subtract(removed.get(name, {}))
        out[name] = {value: n for value, n in sorted(left.items()) if n > 0}
    return out
