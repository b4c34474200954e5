"""The build flow: recipe -> shards (in parallel, resumable) -> cross-shard dedup -> manifest and dataset card.

Prefect orchestrates coarse units only: a task run per batch of consecutive shards (flows/shard_tasks.py) plus a
finalize task. The CPU work of a shard runs in a process pool (or in-process with workers=1, so pdb works), never
one Prefect task per record.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from agentfab.flows import lifeline
from agentfab.flows.coverage import build_coverage
from agentfab.flows.benchmark_sets import BenchmarkUnavailable, contamination_index
from agentfab.flows.crossshard import ShardChecks, ShardPlace, cross_shard_pass, shard_files
from agentfab.flows.lineage import (building_version, index_path, lineage, read_manifest, saved_index, stems,
                                   version_recipe, version_seed, working_index)
from agentfab.flows.object_store import is_url, local_path
from agentfab.flows.manifest import StatsTotals, dataset_card, distinct_ns, versions
from agentfab.flows.quality import QualityTotals, file_quality, per_shard_sample
from agentfab.flows.recipe import Recipe, load_recipe
from agentfab.flows.ownership import (FolderError, check_writable, may_replace, record, remove_owned, start_ledger,
                                     writer_lock)
from agentfab.flows.runners import ProcessRunner, ShardRunner
from agentfab.flows.shard import ShardJob, build_shard, load_stats
from agentfab.flows.shard_tasks import build_and_check
from agentfab.flows.storage import check_shard, clear_partial, paths, write_json, write_text
from agentfab.flows.worlds import expand_worlds, world_files
from agentfab.llm.errors import LLMError
from agentfab.llm.usage import llm_summary
from agentfab.schemas.manifest import Manifest
from agentfab.validators.near_index import NearIndex

class BuildError(RuntimeError):
    """A build that cannot start; the message says what to do."""


def check_output(recipe: Recipe, out: Path, overwrite: bool) -> bool:
    """Refuse a folder agentfab may not write (see ownership.py) or, unless overwrite, another recipe's build.

    True when agentfab's files there must be removed first.
    """
    try:
        kind = check_writable(out)
        if kind in ("missing", "empty"):
            return False
        previous = None
        if kind == "build":
            try:
                previous = json.loads((out / "build.json").read_text()).get("recipe_hash")
            except (OSError, ValueError, AttributeError):
                previous = None
            if previous == recipe.hash():
                return False
        if not overwrite:
            what = f"a build of a different recipe (hash {str(previous)[:12]})" if kind == "build" else "an import"
            raise BuildError(f"{out} holds {what}; pass --overwrite to delete what agentfab wrote there (and "
                             "nothing else), or choose another --out")
        may_replace(out)
    except FolderError as exc:
        raise BuildError(str(exc)) from None
    return True


def prepare_output(recipe: Recipe, out: Path, overwrite: bool, recipe_dir: Path | None = None,
                   extend: bool = False, report: Callable[..., None] | None = None,
                   check: Callable[..., str | None] = check_shard) -> tuple[int, list[int]]:
    """Claim the output folder for this recipe; return the version to build and its shards still to build (the
    caller holds the folder's lock).
    build.json keeps the recipe, and where its declared domain files were found (relative to `recipe_dir`), for
    `agentfab validate`. `report` (a runner's) hears of each finished shard that fails its check and is rebuilt.

    Without `extend` the version is the one build.json names (a resumed extension, or 1); with `extend` an
    unfinished version is resumed, else the next one after the last complete version starts. `check` says what is
    wrong with a finished shard (storage.check_shard's signature; a build to a store checks the store's listing).
    """
    if check_output(recipe, out, overwrite):
        remove_owned(out)  # what agentfab wrote there, and nothing else
    out.mkdir(parents=True, exist_ok=True)
    start_ledger(out)
    done = [v["version"] for v in lineage(out)]
    version = building_version(out) if (out / "build.json").exists() else 1
    if extend and done and version <= max(done):
        version = max(done) + 1
    write_json(out / "build.json", {"recipe": recipe.canonical(), "recipe_hash": recipe.hash(),
                                    "agentfab": versions()["agentfab"], "version": version,
                                    "seed": version_seed(recipe.seed, version),
                                    "world_files": world_files(recipe.worlds, recipe_dir or Path.cwd())})
    if done and version > max(done):  # an extension starts: until it completes, the card lists it as in progress
        _card_in_progress(out, recipe, version)
    clear_partial(out)
    todo = []
    for i in range(recipe.n_shards):
        problem = check(out, i, recipe.hash(), version=version)
        if problem is not None:
            todo.append(i)
            if report is not None and paths(out, i, version)["stats"].is_file():  # done once: say which file failed
                report("damaged", shard=i, problem=problem)
    return version, todo


def _card_in_progress(out: Path, recipe: Recipe, version: int) -> None:
    try:
        typed = Manifest.model_validate(read_manifest(out))
    except ValueError:
        return  # an unreadable manifest: the card is rewritten when this version completes
    write_text(out / "README.md", dataset_card(typed, {"version": version, "seed": version_seed(recipe.seed, version),
                                                       "recipe_hash": recipe.hash(), "shards": recipe.n_shards}))


def shard_jobs(recipe: Recipe, recipe_dir: str, out: str, version: int, todo: list[int]) -> list[ShardJob]:
    canonical = version_recipe(recipe.canonical(), version)
    return [ShardJob(canonical, recipe.hash(), recipe_dir, out, i, version) for i in todo]


WARM_TASKS = 200  # enough to touch every domain of a quickstart-sized recipe (35 domains) several times


def warm_caches(recipe: Recipe, recipe_dir: Path) -> None:
    """Fill this process's caches as the first shard of a worker would: the modules a shard imports, every
    domain's seeded variants with their composer and agent, compiled argument validators, phrasing memos. It
    builds a throwaway shard of WARM_TASKS tasks of the same recipe (so the same world variants) into a temporary
    folder. Worker processes forked afterwards start with all of it, instead of each paying ~0.8 s of CPU on its
    first shard. Every cache filled is a pure function of the recipe's worlds, as a worker reusing them across
    shards already relies on: no row changes. Not for an LLM recipe (it would call the endpoint)."""
    if recipe.uses_llm:
        return
    job_recipe = {**recipe.canonical(), "records": WARM_TASKS}
    with tempfile.TemporaryDirectory(prefix="agentfab-warm-") as tmp:
        try:
            build_shard(ShardJob(job_recipe, "warm-up", str(recipe_dir), tmp, 0))
        except Exception:  # noqa: BLE001 - only a head start: the real shards meet the same error and report it
            pass


def _contamination(recipe: Recipe) -> tuple[Any, dict[str, Any]]:
    if not recipe.filters.decontaminate:
        return None, {"status": "off (filters.decontaminate: false)"}
    try:
        return contamination_index(), {"status": "checked"}
    except BenchmarkUnavailable as exc:
        return None, {"status": f"unavailable: {exc}"}



def shard_checks(recipe: Recipe, out: Path, version: int, place: ShardPlace | None = None) -> ShardChecks:
    """The checks across shards for `version` of the dataset in `out`: the duplicate index holds every earlier
    version's rows (rebuilt from their files if its file is gone), and the benchmark index is loaded. `place`:
    where the checks find each shard's files (ShardPlace: in `out`)."""
    place = place or ShardPlace()
    previous = [s for v in lineage(out) if v["version"] < version for s in v["shards"]]
    threshold = recipe.filters.dedup.near_threshold
    parent = saved_index(out, version - 1) if previous else None
    record(working_index(out, version))  # on disk beside the data, grown shard by shard (validators/near_index.py)
    near = NearIndex.start(working_index(out, version), threshold, parent)
    if previous and not len(near) and version > 1:  # its file is gone (or the dataset predates it): from the shards
        cross_shard_pass(out, previous, near=near, contamination=None, place=place)
    index, status = _contamination(recipe)
    return ShardChecks(out, stems(recipe.n_shards, version), near, index, status,
                       per_shard_sample(len(previous) + recipe.n_shards), place)


@task(name="finalize", cache_policy=NO_CACHE)
def finalize(recipe: Recipe, out: Path, wall_seconds: float, built: list[int], version: int = 1,
             checks: ShardChecks | None = None) -> dict[str, Any]:
    """Decontamination and dedup across shards and versions (what `checks` has not done yet while shards were
    being built), then manifest.json and the dataset card."""
    started = time.perf_counter()
    checks = shard_checks(recipe, out, version) if checks is None else checks
    new = checks.stems
    previous = [v for v in lineage(out) if v["version"] < version]
    all_stems = [s for v in previous for s in v["shards"]] + new
    per_shard = checks.sample_rows
    index, decontamination = checks.contamination, dict(checks.status)
    passed = checks.run()
    if checks.near is not None:
        record(index_path(out, version))  # in the ledger first, like every file agentfab writes (--overwrite removes it)
        checks.near.save(index_path(out, version))
    for old in range(1, version - 1):  # keep the parent's index: a re-finalize of this version starts from it
        index_path(out, old).unlink(missing_ok=True)
        index_path(out, old).with_suffix(".npz").unlink(missing_ok=True)
    merged, mine, quality, llm, missing = _fold_stats(out, all_stems, len(all_stems) - len(new), recipe.uses_llm,
                                                      checks.place)
    if missing:
        raise BuildError(f"shards {missing} have no stats; re-run the same command to resume")
    if index is not None:
        decontamination.update(benchmarks=index.benchmarks, checked_rows=passed.checked, examples=passed.examples,
                               contaminated={b: dict(c) for b, c in sorted(passed.contaminated.items())})
    entry = {"version": version, "parent": previous[-1]["version"] if previous else None,
             "seed": version_seed(recipe.seed, version), "recipe_hash": recipe.hash(), "shards": new,
             "records": recipe.records, "rows": mine["rows"].model_dump(), "moved_across_shards": dict(passed.moved),
             "contaminated": sum(sum(c.values()) for c in passed.contaminated.values()),
             "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    sample = [row for stem in all_stems[:len(all_stems) - len(new)]
              for row in _earlier_sample(out, stem, per_shard, checks.place)] + passed.sample.rows()
    manifest = {
        "name": recipe.name,
        "recipe_hash": recipe.hash(),
        "seed": recipe.seed,
        "records": recipe.records * version,
        "shards": len(all_stems),
        "engine": "llm" if recipe.uses_llm else "offline",
        "recipe": recipe.canonical(),
        "versions": versions(),
        **merged,
        "cross_shard_duplicates_moved": sum(passed.moved.values()) + sum(
            sum(v.get("moved_across_shards", {}).values()) for v in previous),
        "decontamination": decontamination,
        "lineage": previous + [entry],
        "query_diversity": distinct_ns([query for query, _, _ in sample]) | {"rows_measured": len(sample)},
        "quality": quality.figures(sample, merged["negatives"].model_dump()),
        "timings": {"shards_wall_seconds": round(wall_seconds, 3), "shards_built_this_run": len(built),
                    "shards_resumed": recipe.n_shards - len(built)},
        "finished_at": entry["finished_at"],
    }
    if recipe.uses_llm:
        manifest["llm"] = llm_summary(llm, merged["rows"].accepted)
    manifest["coverage"] = build_coverage(recipe, out, quality.merged_calls())
    manifest["timings"]["finalize_seconds"] = round(time.perf_counter() - started, 3)
    typed = Manifest.model_validate(manifest)  # a misspelled or untyped section fails here, not in a reader
    write_json(out / "manifest.json", typed.as_json())
    write_text(out / "README.md", dataset_card(typed))
    return typed.as_json()


def _earlier_sample(out: Path, stem: str, rows: int, place: ShardPlace) -> list[Any]:
    """The diversity sample's rows of an earlier version's shard."""
    return place.sample(out, stem, rows)


def _fold_stats(out: Path, stems: list[str], first_new: int, uses_llm: bool, place: ShardPlace
                ) -> tuple[dict[str, Any], dict[str, Any], QualityTotals, list[dict[str, Any]], list[str]]:
    """The shards' stats added up one shard at a time (a 1M-task build has 200 shards; none is kept): the counts of
    all `stems` and of those from `first_new` on (this version), the quality figures (read from the files of a
    shard whose stats predate them, once), each shard's LLM usage when the recipe uses one, and the stems
    without stats."""
    every, mine, quality = StatsTotals(), StatsTotals(), QualityTotals()
    llm: list[dict[str, Any]] = []
    missing: list[str] = []
    for n, stem in enumerate(stems):
        files = shard_files(out, stem)
        st = load_stats(files["stats"])
        if st is None:
            missing.append(stem)
            continue
        every.add(st)
        if n >= first_new:
            mine.add(st)
        if st.quality is None:
            with place.reading(out, stem):
                quality.add(file_quality(files["accepted"], files["rejected"]))
        else:
            quality.add(st.quality)
        if uses_llm:
            llm.append(st.llm or {})
    return every.result(), mine.result(), quality, llm, missing


def _one_writer(flow_fn: Callable[..., Any]) -> Callable[..., Any]:
    """The flow holds the folder's write lock while it runs (re-entrant: the `build` API already holds it)."""

    @functools.wraps(flow_fn)
    async def locked(recipe: Recipe, recipe_dir: str, out: str, overwrite: bool = False, *args: Any,
                     **kwargs: Any) -> dict[str, Any]:
        check_output(recipe, Path(out), overwrite)  # before the lock creates anything in a folder that is not ours
        with writer_lock(Path(out)):
            return await flow_fn(recipe, recipe_dir, out, overwrite, *args, **kwargs)

    return locked


@flow(name="agentfab-build", log_prints=False, validate_parameters=False)
@_one_writer
async def build_flow(recipe: Recipe, recipe_dir: str, out: str, overwrite: bool = False, workers: int = 1,
                     extend: bool = False, runner: ShardRunner | None = None,
                     claimed: tuple[int, list[int]] | None = None, started: float | None = None) -> dict[str, Any]:
    """Build (or resume) `out`; with `extend`, add a version to it. With `runner` and `claimed` (version, shards
    to build), the caller has claimed the folder and launched the shards already (the `build` API, `started`
    being its perf_counter then); without them (a deployment, a schedule) the flow does both itself."""
    started = time.perf_counter() if started is None else started
    from prefect.runtime import flow_run

    lifeline.note_flow_run(flow_run.id)  # the command's server records this run's task runs before it stops
    out_path = Path(out)
    own = runner is None
    if runner is None:
        runner = ProcessRunner(workers, "spawn")
    if claimed is None:
        expand_worlds(recipe.worlds, Path(recipe_dir))  # a broken world fails here, before any shard starts
        claimed = prepare_output(recipe, out_path, overwrite, Path(recipe_dir), extend, runner.report)
        runner.report("start", total=recipe.n_shards, todo=len(claimed[1]), records=recipe.records)
    version, todo = claimed
    checks = shard_checks(recipe, out_path, version, getattr(runner, "place", None))
    try:
        runner.open(len(todo))
        results = await build_and_check(shard_jobs(recipe, recipe_dir, out, version, todo), recipe.n_shards,
                                        runner, checks)
    finally:
        if own:
            runner.close()
    failed = next((r["os_error"] for r in results if "os_error" in r), None)
    if failed is not None:
        if own:
            raise OSError(*failed)
        return {"os_error": failed}
    fatal = next((r["fatal"] for r in results if "fatal" in r), None)
    if fatal is not None:
        if own:  # a deployment or a direct call: the flow run fails with the endpoint's error
            raise LLMError(fatal[0], fatal[1], True)
        return {"fatal": fatal}  # the `build` API reports it outside Prefect, as one line
    runner.report("finalize")
    return finalize(recipe, out_path, time.perf_counter() - started, todo, version, checks)


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
          runner: ShardRunner | None = None, extend: bool = False) -> dict[str, Any]:
    """Build a dataset from a recipe file; returns the manifest. The Python API behind `agentfab build`.

    `runner` says where shards run (default: a process pool of `workers`, all cores unless given); the caller
    keeps ownership of a runner it passes in. `extend` adds a version to an existing dataset (see lineage.py).
    """
    recipe, recipe_dir = load_recipe(recipe_path, {"records": records, "seed": seed})
    if is_url(out):  # s3://bucket/prefix and other fsspec URLs: a working copy published to the store
        from agentfab.flows.store_build import build_to_store

        expand_worlds(recipe.worlds, recipe_dir)
        return build_to_store(recipe, recipe_dir, str(out), workers, overwrite, runner, extend)
    out_path = (local_path(out) if out else Path("data") / "builds" / recipe.name).resolve()
    expand_worlds(recipe.worlds, recipe_dir)  # fail on a broken world or a foreign output folder before anything starts
    check_output(recipe, out_path, overwrite)
    with writer_lock(out_path):  # one writer: a second build or import into this folder stops at once
        lifeline.install()  # Prefect's temporary server dies with this process, even by SIGKILL
        return _build_locked(recipe, recipe_dir, out_path, workers, overwrite, runner, extend)


def _build_locked(recipe: Recipe, recipe_dir: Path, out_path: Path, workers: int | None, overwrite: bool,
                  runner: ShardRunner | None, extend: bool, on_claimed: Callable[[], None] | None = None,
                  check: Callable[..., str | None] = check_shard) -> dict[str, Any]:
    """`on_claimed` runs once build.json is written, before any shard starts (a store publishes it then); `check`
    finds the finished shards (see `prepare_output`)."""
    own = runner is None
    if runner is None:
        runner = ProcessRunner(workers if workers else (os.cpu_count() or 1))
    started = time.perf_counter()
    version, todo = prepare_output(recipe, out_path, overwrite, recipe_dir, extend, runner.report, check)
    if on_claimed is not None:
        on_claimed()
    try:
        runner.open(len(todo), functools.partial(warm_caches, recipe, recipe_dir))
        runner.report("start", total=recipe.n_shards, todo=len(todo), records=recipe.records)
        runner.launch(shard_jobs(recipe, str(recipe_dir), str(out_path), version, todo))
        lifeline.wait_for_server()  # the command's own server (started first thing) may still be importing
        manifest = _run(build_flow(recipe, str(recipe_dir), str(out_path), overwrite, extend=extend, runner=runner,
                                   claimed=(version, todo), started=started))
        if "fatal" in manifest:
            raise LLMError(manifest["fatal"][0], manifest["fatal"][1], True)
        if "os_error" in manifest:
            raise OSError(*manifest["os_error"])
        # What the flow's own timings cannot see: Prefect's start-up and shut-down around it.
        timings = manifest["timings"]
        timings["runner"] = runner.describe()
        timings["total_seconds"] = round(time.perf_counter() - started, 3)
        timings["outside_shards_seconds"] = round(timings["total_seconds"] - timings["shards_wall_seconds"], 3)
        write_json(out_path / "manifest.json", Manifest.model_validate(manifest).as_json())
        return manifest
    finally:
        if own:
            runner.close()
