"""The build flow: recipe -> shards (in parallel, resumable) -> cross-shard dedup -> manifest and dataset card.

Prefect orchestrates coarse units only: one task per shard plus a finalize task. The CPU work of a shard runs in
a process pool (or in-process with workers=1, so pdb works), never one Prefect task per record.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from agentfab.flows.manifest import dataset_card, merge_stats, query_diversity, versions
from agentfab.flows.recipe import Recipe, load_recipe
from agentfab.flows.runners import ProcessRunner, ShardRunner
from agentfab.flows.shard import ShardJob, distributions, subtract_distributions
from agentfab.flows.worlds import expand_worlds, world_files
from agentfab.flows.storage import (clear_partial, paths, read_stats, rows_table, shard_is_complete, write_json,
                                    write_table, write_text)
from agentfab.llm.client import LLMError
from agentfab.llm.usage import llm_summary
from agentfab.schemas.codes import Reason

ProgressHook = Callable[[str, dict[str, Any]], None]
_progress: ProgressHook | None = None


class BuildError(RuntimeError):
    """A build that cannot start; the message says what to do."""


def set_progress(hook: ProgressHook | None) -> None:
    """The CLI's progress bar listens here (a callable cannot travel as a flow parameter)."""
    global _progress
    _progress = hook


def _report(event: str, **data: Any) -> None:
    if _progress is not None:
        _progress(event, data)


def check_output(recipe: Recipe, out: Path, overwrite: bool) -> bool:
    """Refuse a folder holding another recipe's build (unless overwrite); True when it must be cleared first."""
    marker = out / "build.json"
    if marker.exists():
        try:
            previous = json.loads(marker.read_text()).get("recipe_hash")
        except ValueError:
            previous = None
        if previous == recipe.hash():
            return False
        if not overwrite:
            raise BuildError(f"{out} holds a build of a different recipe (hash {str(previous)[:12]}); "
                             "pass --overwrite to replace it, or choose another --out")
        return True
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise BuildError(f"{out} exists and is not an agentfab build; pass --overwrite or choose another --out")
        return True
    return False


def prepare_output(recipe: Recipe, out: Path, overwrite: bool, recipe_dir: Path | None = None) -> list[int]:
    """Claim the output folder for this recipe and return the shards still to build. build.json keeps the recipe,
    and where its declared domain files were found (relative to `recipe_dir`), for `agentfab validate`."""
    if check_output(recipe, out, overwrite):
        for name in ("shards", "rejected", "stats"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in ("manifest.json", "README.md", "build.json"):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "build.json", {"recipe": recipe.canonical(), "recipe_hash": recipe.hash(),
                                    "agentfab": versions()["agentfab"],
                                    "world_files": world_files(recipe.worlds, recipe_dir or Path.cwd())})
    clear_partial(out)
    return [i for i in range(recipe.n_shards) if not shard_is_complete(out, i, recipe.hash())]


@task(name="build-shard", retries=1, retry_delay_seconds=1, cache_policy=NO_CACHE)
async def run_shard(job: ShardJob, runner: ShardRunner) -> dict[str, Any]:
    """Wait for the shard on its runner; a shard launched early was already reported when it finished."""
    future, reported = runner.future(job)
    try:
        stats = await asyncio.wrap_future(future)
    except LLMError as exc:
        if not exc.fatal:
            raise
        return {"fatal": [exc.code, str(exc)]}  # an endpoint that refuses or is down: no retry, no traceback
    if not reported:
        _report("shard_done", shard=job.shard, stats=stats)
    return stats


def dedup_across_shards(out: Path, recipe: Recipe) -> int:
    """Move rows whose exact key an earlier shard already accepted into rejected/. Idempotent, so resumable."""
    seen: set[str] = set()
    moved = 0
    for shard in range(recipe.n_shards):
        p = paths(out, shard)
        keys = pq.read_table(p["accepted"], columns=["verification.dedup_key"]).column(0).to_pylist()
        dup = [i for i, k in enumerate(keys) if k in seen]
        seen.update(keys)
        if not dup:
            continue
        accepted = pq.read_table(p["accepted"])
        mask = pa.array([i not in set(dup) for i in range(len(keys))])
        rejected = pq.read_table(p["rejected"])
        have = set(rejected.column("id").to_pylist())
        removed = accepted.filter(pc.invert(mask)).to_pylist()
        moving = [r for r in removed if r["id"] not in have]
        for r in moving:
            r["verification"]["passed"] = False
            r["verification"]["reasons"].append(Reason.EXACT_DUPLICATE)
            r["verification"]["details"].append("dedup.exact_duplicate: an earlier shard accepted the same row")
        meta = {"recipe_hash": recipe.hash(), "shard": str(shard)}
        stats = read_stats(p["stats"]) or {}
        # rejected first: a crash between the two writes leaves the row in both, and the rerun skips ids present
        write_table(p["rejected"], pa.concat_tables([rejected, rows_table(moving, meta).cast(rejected.schema)]))
        write_table(p["accepted"], accepted.filter(mask))
        stats["rows"] = {"accepted": len(keys) - len(dup), "rejected": rejected.num_rows + len(moving)}
        stats["funnel"]["dedup"]["rejected"] += len(dup)
        stats["reasons"][Reason.EXACT_DUPLICATE] = stats["reasons"].get(Reason.EXACT_DUPLICATE, 0) + len(dup)
        stats["distributions"] = subtract_distributions(stats["distributions"], distributions(removed))
        write_json(p["stats"], stats)
        moved += len(dup)
    return moved


@task(name="finalize", cache_policy=NO_CACHE)
def finalize(recipe: Recipe, out: Path, wall_seconds: float, built: list[int]) -> dict[str, Any]:
    """Cross-shard dedup, then manifest.json and the dataset card. `wall_seconds`: the shards' phase."""
    started = time.perf_counter()
    _report("finalize")
    moved = dedup_across_shards(out, recipe)
    all_stats = [read_stats(paths(out, i)["stats"]) for i in range(recipe.n_shards)]
    missing = [i for i, s in enumerate(all_stats) if s is None]
    if missing:
        raise BuildError(f"shards {missing} have no stats; re-run the same command to resume")
    merged = merge_stats([s for s in all_stats if s])
    manifest = {
        "name": recipe.name,
        "recipe_hash": recipe.hash(),
        "seed": recipe.seed,
        "records": recipe.records,
        "shards": recipe.n_shards,
        "engine": "llm" if recipe.uses_llm else "offline",
        "recipe": recipe.canonical(),
        "versions": versions(),
        **merged,
        "cross_shard_duplicates_moved": moved,
        "query_diversity": query_diversity(out, recipe.n_shards),
        "timings": {"shards_wall_seconds": round(wall_seconds, 3), "shards_built_this_run": len(built),
                    "shards_resumed": recipe.n_shards - len(built)},
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if recipe.uses_llm:
        manifest["llm"] = llm_summary([s.get("llm", {}) for s in all_stats if s], merged["rows"].get("accepted", 0))
    manifest["timings"]["finalize_seconds"] = round(time.perf_counter() - started, 3)
    write_json(out / "manifest.json", manifest)
    write_text(out / "README.md", dataset_card(manifest))
    return manifest


@flow(name="agentfab-build", log_prints=False, validate_parameters=False)
async def build_flow(recipe: Recipe, recipe_dir: str, out: str, overwrite: bool = False, workers: int = 1,
                     runner: ShardRunner | None = None, todo: list[int] | None = None,
                     started: float | None = None) -> dict[str, Any]:
    """Build (or resume) `out`. With `runner` and `todo`, the caller has claimed the folder and launched the
    shards already (the `build` API, `started` being its perf_counter then); without them (a deployment, a test)
    the flow does both itself."""
    started = time.perf_counter() if started is None else started
    out_path = Path(out)
    own = runner is None
    if todo is None:
        expand_worlds(recipe.worlds, Path(recipe_dir))  # a broken world fails here, before any shard starts
        todo = prepare_output(recipe, out_path, overwrite, Path(recipe_dir))
        _report("start", total=recipe.n_shards, todo=len(todo), records=recipe.records)
    if runner is None:
        runner = ProcessRunner(workers, "spawn")
    jobs = [ShardJob(recipe.canonical(), recipe.hash(), recipe_dir, out, i) for i in todo]
    try:
        runner.open(len(jobs))
        results = await asyncio.gather(*(run_shard(job, runner) for job in jobs))
    finally:
        if own:
            runner.close()
    fatal = next((r["fatal"] for r in results if "fatal" in r), None)
    if fatal is not None:
        if own:  # a deployment or a direct call: the flow run fails with the endpoint's error
            raise LLMError(fatal[0], fatal[1], True)
        return {"fatal": fatal}  # the `build` API reports it outside Prefect, as one line
    return finalize(recipe, out_path, time.perf_counter() - started, todo)


def _run(coroutine: Any) -> Any:
    """asyncio.run, also from code that already runs an event loop (a Jupyter notebook): then in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def build(recipe_path: str | Path, *, out: str | Path | None = None, records: int | None = None,
          seed: int | None = None, workers: int | None = None, overwrite: bool = False,
          runner: ShardRunner | None = None) -> dict[str, Any]:
    """Build a dataset from a recipe file; returns the manifest. The Python API behind `agentfab build`.

    `runner` says where shards run (default: a process pool of `workers`, all cores unless given); the caller
    keeps ownership of a runner it passes in.
    """
    recipe, recipe_dir = load_recipe(recipe_path, {"records": records, "seed": seed})
    out_path = (Path(out) if out else Path("data") / "builds" / recipe.name).resolve()
    expand_worlds(recipe.worlds, recipe_dir)  # fail on a broken world or a foreign output folder before anything starts
    check_output(recipe, out_path, overwrite)
    own = runner is None
    if runner is None:
        runner = ProcessRunner(workers if workers else (os.cpu_count() or 1))
    started = time.perf_counter()
    todo = prepare_output(recipe, out_path, overwrite, recipe_dir)
    runner.on_done = lambda stats: _report("shard_done", shard=stats["shard"], stats=stats)
    try:
        runner.open(len(todo))
        _report("start", total=recipe.n_shards, todo=len(todo), records=recipe.records)
        runner.launch([ShardJob(recipe.canonical(), recipe.hash(), str(recipe_dir), str(out_path), i) for i in todo])
        manifest = _run(build_flow(recipe, str(recipe_dir), str(out_path), overwrite, runner=runner, todo=todo,
                                  started=started))
        if "fatal" in manifest:
            raise LLMError(manifest["fatal"][0], manifest["fatal"][1], True)
        # What the flow's own timings cannot see: Prefect's start-up and shut-down around it.
        timings = manifest["timings"]
        timings["runner"] = runner.describe()
        timings["total_seconds"] = round(time.perf_counter() - started, 3)
        timings["outside_shards_seconds"] = round(timings["total_seconds"] - timings["shards_wall_seconds"], 3)
        write_json(out_path / "manifest.json", manifest)
        return manifest
    finally:
        runner.on_done = None
        if own:
            runner.close()
