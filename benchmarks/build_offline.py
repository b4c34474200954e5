"""Offline build throughput, per stage, peak memory, the cost of Prefect and the ratio to pyarrow alone.

    python benchmarks/build_offline.py                     # 20k tasks, shards run in-process (one core)
    python benchmarks/build_offline.py --cli               # end to end: 50k tasks of the quickstart recipe,
                                                           # in-process (1 core) AND `agentfab build --workers 2`
    python benchmarks/build_offline.py --cli --records 100000    # Prefect's share of a 100k build
    python benchmarks/build_offline.py --synthesize 30     # + 30 synthesized domains: synthesis time per
                                                           # 1,000 tools, and trajectories/s against built-ins alone

--cli prints both figures on the same recipe and tasks: verified (accepted) trajectories/s on one core in-process
(the shards alone, then with the checks across shards and finalize, which leave the same rows as the command), and
end to end through the real command (Prefect's start-up, every shard, finalize, exit) per core, with the finalize
time, CPU by process (driver, workers, Prefect's server) and Prefect's share: the command against the same build
without Prefect (the same pool, checks and finalize), run in a process of its own so that it pays the same imports
and per-worker warm-up as the command. That bare build also times each shard in the worker that built it: what the
workers spend beyond the one-core run of the same shards, on each worker's first shard and on the others.
Each figure is given per wall second and per CPU second: on a shared machine the wall figures move with the other
load, the CPU figures much less; the stage figures of the in-process run are CPU seconds (the shard's thread).
Prints figures; asserts nothing. Targets (issue #12): in-process >= 5,000/s/core; end to end on 2 cores
>= 3,000/s/core; Prefect's share of a 100k build under 5%.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from proctree import run_tree

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def recipe_text(records: int, shard_size: int, worlds: str) -> str:
    return (f"name: bench\nseed: 1\nrecords: {records}\nshard_size: {shard_size}\nworlds: [{worlds}]\n"
            "negatives: 0.1\nrollouts: {agent: oracle, recovery: 0.1}\n")


def synthesis_figures(args: argparse.Namespace) -> float:
    """Print the cost of synthesizing domains; return accepted trajectories/s over --worlds alone (same records)."""
    from agentfab.flows.worlds import synthesized_domains
    from agentfab.generators.domains import synthesize_domains

    t0 = time.perf_counter()
    synthesize_domains(args.synthesize, 1)
    spec = time.perf_counter() - t0
    t0 = time.perf_counter()
    tools = sum(len(d.tools) for d in synthesized_domains(args.synthesize, 1))
    built = time.perf_counter() - t0
    print(f"synthesis: {args.synthesize} domains, {tools:,} executable tools: declarations {spec:.2f}s, validated "
          f"and built (seeded, tools generated) {built:.2f}s -> {1000 * (spec + built) / tools:.2f}s per 1,000 tools")
    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.shard import ShardJob, build_shard

    tmp = Path(tempfile.mkdtemp(prefix="agentfab-bench-base-"))
    recipe = parse_recipe(__import__("yaml").safe_load(recipe_text(args.records, args.shard_size or 2_000,
                                                                   args.worlds)))
    t0 = time.perf_counter()
    accepted = sum(build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp), str(tmp / "out"), i))
                   ["rows"]["accepted"] for i in range(recipe.n_shards))
    seconds = time.perf_counter() - t0
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"built-in worlds alone ({args.worlds}), in-process: {accepted / seconds:,.0f} accepted trajectories/s")
    return accepted / seconds


def bare_build(args: argparse.Namespace, recipe, recipe_dir: Path, out: Path) -> None:  # type: ignore[no-untyped-def]
    """The same shards on a pool of --workers processes, each shard's checks across shards as soon as it and every
    earlier shard are done (as the flow does), then finalize: the build without Prefect. Run in a process of its
    own (--bare-out), so that it pays the same imports and warm-up as the command."""
    from prefect.logging import disable_run_logger

    from agentfab.flows.build import finalize, prepare_output, shard_checks, shard_jobs, warm_caches
    from agentfab.flows.runners import start_pool
    from agentfab.flows.worlds import expand_worlds

    t0 = time.perf_counter()
    expand_worlds(recipe.worlds, recipe_dir)  # as the command does before its workers start
    version, todo = prepare_output(recipe, out, overwrite=False, recipe_dir=recipe_dir)
    jobs = shard_jobs(recipe, str(recipe_dir), str(out), version, todo)
    checks = shard_checks(recipe, out, version)
    if args.workers > 1:
        warm_caches(recipe, recipe_dir)  # as the command does before its workers fork
    pool = start_pool(args.workers) if args.workers > 1 else None
    futures = [pool.submit(timed_shard, job) for job in jobs] if pool else []
    per_shard = {}
    for i, job in enumerate(jobs):
        per_shard[job.shard] = futures[i].result() if pool else timed_shard(job)
        checks.run(i + 1)
    if pool:
        pool.shutdown()
    with disable_run_logger():
        finalize.fn(recipe, out, time.perf_counter() - t0, todo, version, checks)
    (out.parent / "bare-shards.json").write_text(json.dumps(per_shard))


def timed_shard(job) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Build one shard; (its CPU seconds in the process that built it, that process's id)."""
    from agentfab.flows.shard import build_shard

    c0 = time.process_time()
    build_shard(job)
    return time.process_time() - c0, os.getpid()


def write_alone(paths: list[Path], tmp: Path, clock=time.perf_counter) -> float:  # type: ignore[no-untyped-def]
    """Seconds (by `clock`) pyarrow alone takes to write the rows of each file in `paths` again, from the rows as
    Python objects (`Table.from_pylist`, zstd), one file at a time as the pipeline writes them."""
    seconds = 0.0
    for i, path in enumerate(paths):
        table = pq.read_table(path)
        rows = table.to_pylist()
        t0 = clock()
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), tmp / f"raw-{i}.parquet", compression="zstd")
        seconds += clock() - t0
        del rows, table
    return seconds


def worker_figures(in_process: dict[int, float], workers: dict[str, list]) -> None:
    """What the workers spend on shards beyond the one-core run of the same shards: each worker's first shard
    (forked from the warmed driver: copy-on-write faults on the pages it touches, its own memos to extend) and the
    rest (two processes sharing the cores' caches, memory bandwidth and the machine's other load)."""
    seen: set[int] = set()
    first = [0.0, 0.0]
    rest = [0.0, 0.0]
    cold = min(in_process)  # the one-core run's first shard also paid that process's imports and world seeding,
    others = sorted(v for k, v in in_process.items() if k != cold)  # which the workers inherit from the driver
    typical = others[len(others) // 2] if others else in_process[cold]
    for shard, (cpu, pid) in sorted(((int(k), v) for k, v in workers.items())):
        part = rest if pid in seen else first
        seen.add(pid)
        part[0] += cpu
        part[1] += typical if shard == cold else in_process[shard]
    print(f"  the bare build's shards by worker process ({len(seen)} workers, CPU per shard measured in the worker):"
          f" first shard of each {first[0]:.2f}s against {first[1]:.2f}s in-process for the same shards (the median "
          f"shard's CPU for the one-core run's own first, which paid its process's start) "
          f"({first[0] - first[1]:+.2f}s); the other shards {rest[0]:.2f}s against {rest[1]:.2f}s "
          f"({100 * (rest[0] / rest[1] - 1):+.0f}%)")


def cli_figures(args: argparse.Namespace, recipe_path: Path, recipe, recipe_dir: Path, tmp: Path,  # type: ignore[no-untyped-def]
                in_process: float, in_process_cpu: float, shards_cpu: float, checks_cpu: float,
                per_shard: dict[int, float]) -> None:
    """End to end through `agentfab build` against the same build without Prefect; prints both per-core figures."""
    w = args.workers
    if args.shard_size and args.recipe is not None:  # the command has no --shard-size: give it the recipe as run
        import yaml

        recipe_path = tmp / recipe_path.name
        recipe_path.write_text(yaml.safe_dump(recipe.canonical(), sort_keys=False))
    bare = run_tree([sys.executable, __file__, "--bare-out", str(tmp / "bare"), "--recipe", str(recipe_path),
                     "--records", str(recipe.records), "--workers", str(w)])
    if bare.returncode != 0:
        raise SystemExit(f"the build without Prefect failed:\n{bare.stderr[-3000:]}")
    bare_wall, bare_cpu = bare.wall, bare.cpu
    bare_shards = json.loads((tmp / "bare-shards.json").read_text())
    cmd = [sys.executable, "-m", "agentfab", "build", str(recipe_path), "--records", str(recipe.records),
           "--out", str(tmp / "cli"), "--workers", str(w), "--quiet"]
    run = run_tree(cmd)
    if run.returncode != 0:
        raise SystemExit(f"agentfab build failed:\n{run.stderr[-3000:]}")
    m = json.loads((tmp / "cli" / "manifest.json").read_text())
    t, accepted = m["timings"], m["rows"]["accepted"]
    prefect_cpu = run.cpu_by_role["prefect server"]
    print(f"\nend to end, `agentfab build --workers {w}` ({accepted:,} accepted of {recipe.records:,} tasks):")
    print(f"  wall {run.wall:.2f}s (build() {t['total_seconds']:.2f}s: shards {t['shards_wall_seconds']:.2f}s, "
          f"finalize {t['finalize_seconds']:.2f}s); CPU {run.cpu:.2f}s: driver {run.cpu_by_role['driver']:.2f}s, "
          f"workers {run.cpu_by_role['worker']:.2f}s, Prefect's server {prefect_cpu:.2f}s (sampled every 0.2 s)")
    print(f"  -> {accepted / run.wall / w:,.0f} verified trajectories/s/core end to end "
          f"({accepted / run.wall:,.0f}/s on {w} cores); {accepted / run.cpu:,.0f} per CPU second")
    print(f"  in-process on 1 core, same rows (checks across shards and finalize included): {in_process:,.0f}/s "
          f"({in_process_cpu:,.0f} per CPU second); end to end per core is {accepted / run.wall / w / in_process:.2f}x "
          f"that per wall second, {accepted / run.cpu / in_process_cpu:.2f}x per CPU second")
    print(f"  CPU against the one-core run: the workers {run.cpu_by_role['worker']:.2f}s on the shards it built in "
          f"{shards_cpu:.2f}s ({100 * (run.cpu_by_role['worker'] / shards_cpu - 1):+.0f}%), the driver "
          f"{run.cpu_by_role['driver']:.2f}s against its {checks_cpu:.2f}s of checks across shards and finalize (the "
          "rest: imports, worlds, the warm-up shard, Prefect's client)")
    print(f"  without Prefect (pool of {w}, checks, finalize; a process of its own): {bare_wall:.2f}s wall, "
          f"{bare_cpu:.2f}s CPU")
    worker_figures(per_shard, bare_shards)
    print(f"  Prefect's share: {100 * (run.wall - bare_wall) / run.wall:.1f}% of the wall time, "
          f"{100 * (run.cpu - bare_cpu) / run.cpu:.1f}% of the CPU time (the command against the bare build; "
          f"its server alone {100 * prefect_cpu / run.cpu:.1f}% of the CPU)")
    print(f"  peak RSS: driver {run.peak_mb['driver']:.0f} MB, largest worker {run.peak_mb['worker']:.0f} MB, "
          f"Prefect's server {run.peak_mb['prefect server']:.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, help="tasks (default 20,000; 50,000 with --cli)")
    ap.add_argument("--shard-size", type=int, help="tasks per shard (default 2,000; the recipe's with --recipe)")
    ap.add_argument("--worlds", default="bank, shop, travel, calendar, library")
    ap.add_argument("--recipe", type=Path, help="build this recipe file (default: a recipe over --worlds; "
                                                 "data/recipes/quickstart.yaml with --cli)")
    ap.add_argument("--cli", action="store_true", help="also build end to end through `agentfab build` and "
                                                       "without Prefect, and compare")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of the --cli builds (default 2)")
    ap.add_argument("--synthesize", type=int, default=0, metavar="N",
                    help="add N synthesized domains to --worlds; first measure synthesis and the built-ins alone")
    ap.add_argument("--bare-out", type=Path, help=argparse.SUPPRESS)  # --cli runs the build without Prefect so
    args = ap.parse_args()
    if args.cli and args.recipe is None:
        args.recipe = ROOT / "data" / "recipes" / "quickstart.yaml"
    args.records = args.records or (50_000 if args.cli else 20_000)

    from agentfab.flows.prefect_env import configure

    configure()
    if args.synthesize:
        baseline = synthesis_figures(args)
        args.worlds += f", {{synthesize: {{domains: {args.synthesize}, seed: 1}}}}"
    from agentfab.flows.recipe import load_recipe
    from agentfab.flows.shard import build_shard

    if args.bare_out is not None:
        recipe, recipe_dir = load_recipe(args.recipe, {"records": args.records})
        bare_build(args, recipe, recipe_dir, args.bare_out)
        return
    tmp = Path(tempfile.mkdtemp(prefix="agentfab-bench-"))
    if args.recipe is None:
        recipe_path = tmp / "bench.yaml"
        recipe_path.write_text(recipe_text(args.records, args.shard_size or 2_000, args.worlds))
    else:
        recipe_path = args.recipe.resolve()
    recipe, recipe_dir = load_recipe(recipe_path, {"records": args.records, "shard_size": args.shard_size})
    args.worlds = ", ".join(str(w) for w in recipe.worlds)
    out = tmp / "plain"
    from agentfab.flows.build import prepare_output, shard_checks, shard_jobs

    version, todo = prepare_output(recipe, out, overwrite=False, recipe_dir=recipe_dir)
    jobs = shard_jobs(recipe, str(recipe_dir), str(out), version, todo)

    # 1. The pipeline without orchestration, in this process: one core.
    t0 = time.perf_counter()
    c0 = time.process_time()
    stages: Counter[str] = Counter()
    accepted = rejected = 0
    per_shard: dict[int, float] = {}
    import agentfab.flows.shard as shard_module

    shard_module.stage_clock = time.thread_time  # stage figures in CPU seconds: they hold on a loaded machine
    try:
        for job in jobs:
            c_shard = time.process_time()
            stats = build_shard(job)
            per_shard[job.shard] = time.process_time() - c_shard
            stages.update(stats["timings"])
            accepted += stats["rows"]["accepted"]
            rejected += stats["rows"]["rejected"]
    finally:
        shard_module.stage_clock = time.perf_counter
    plain = time.perf_counter() - t0
    plain_cpu = time.process_time() - c0
    own, _ = peak_rss_mb()
    print(f"recipe: {recipe_path.name}  tasks: {recipe.records:,}  worlds: {args.worlds}  "
          f"shards: {recipe.n_shards} x {recipe.shard_size}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the start (a shared machine moves the wall figures)")
    print(f"in-process, 1 core: {plain:.2f}s wall, {plain_cpu:.2f}s CPU -> {args.records / plain:,.0f} tasks/s, "
          f"{accepted / plain:,.0f} accepted (verified) trajectories/s ({accepted / plain_cpu:,.0f} per CPU second); "
          f"{accepted} accepted, {rejected} rejected")
    if args.synthesize:
        print(f"  with {args.synthesize} synthesized domains: {accepted / plain:,.0f} accepted/s against "
              f"{baseline:,.0f} accepted/s over the built-in worlds alone ({accepted / plain / baseline:.2f}x)")
    total = sum(stages.values())
    for name, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  stage {name:<12} {seconds:7.2f}s CPU  {100 * seconds / total:5.1f}%  "
              f"{1e6 * seconds / args.records:7.1f} us/task")
    print(f"peak RSS (this process): {own:.0f} MB")

    if args.cli:  # the world and pyarrow figures below are the default mode's
        from prefect.logging import disable_run_logger

        from agentfab.flows.build import finalize

        t1, c1 = time.perf_counter(), time.process_time()
        checks = shard_checks(recipe, out, version)
        checks.run()
        with disable_run_logger():
            final = finalize.fn(recipe, out, plain, todo, version, checks)["rows"]["accepted"]
        wall, cpu = plain + time.perf_counter() - t1, plain_cpu + time.process_time() - c1
        print(f"  + checks across shards and finalize: {time.perf_counter() - t1:.2f}s -> {final:,} accepted rows "
              f"left, {final / wall:,.0f}/s ({final / cpu:,.0f} per CPU second) for the whole build on one core")
        cli_figures(args, recipe_path, recipe, recipe_dir, tmp, final / wall, final / cpu, plain_cpu, cpu - plain_cpu,
                    per_shard)
        shutil.rmtree(tmp, ignore_errors=True)
        return

    # 1b. A fresh world per rollout must cost microseconds: fork the seeded state, make one change, diff it.
    from agentfab.worlds.registry import BUILTIN, builtin_domain

    for name in BUILTIN:
        store = builtin_domain(name).seeded(1)
        n = 20_000
        t0 = time.perf_counter()
        for _ in range(n):
            store.fork()
        fork_us = 1e6 * (time.perf_counter() - t0) / n
        table = next(iter(store._tables))
        key = next(iter(store._tables[table]))
        t0 = time.perf_counter()
        for _ in range(n):
            w = store.fork()
            w.put(table, key, {**w.get(table, key), "touched": True})
            w.diff()
        cow_us = 1e6 * (time.perf_counter() - t0) / n
        print(f"world {name:<9} fork {fork_us:5.2f} us; fork + first write to a {store.count(table)}-row table "
              f"+ diff {cow_us:6.1f} us")

    # 2. The same rows written with pyarrow alone (one shard at a time, as the pipeline does).
    raw = write_alone(sorted((out / "shards").glob("*.parquet")), tmp)
    print(f"pyarrow alone writing the {accepted} accepted rows: {raw:.2f}s ({accepted / raw:,.0f} rows/s); "
          f"the whole pipeline costs {plain / raw:.1f}x that")

    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
