"""Offline build throughput, per stage, peak memory, the cost of Prefect and the ratio to pyarrow alone.

    python benchmarks/build_offline.py                     # 20k tasks, shards run in-process (one core)
    python benchmarks/build_offline.py --records 100000 --flow    # also through the Prefect flow
    python benchmarks/build_offline.py --records 1000000 --flow --workers 2   # the 1M-row memory check
    python benchmarks/build_offline.py --synthesize 30     # + 30 synthesized domains: synthesis time per
                                                           # 1,000 tools, and trajectories/s against built-ins alone

Prints figures; asserts nothing. Targets (issue #3): >= 3,000 verified trajectories/s per core; 1,000,000 rows
with peak RSS under 1 GB; Prefect's share of the wall time under 5% at 100k rows.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


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
    recipe = parse_recipe(__import__("yaml").safe_load(recipe_text(args.records, args.shard_size, args.worlds)))
    t0 = time.perf_counter()
    accepted = sum(build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp), str(tmp / "out"), i))
                   ["rows"]["accepted"] for i in range(recipe.n_shards))
    seconds = time.perf_counter() - t0
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"built-in worlds alone ({args.worlds}), in-process: {accepted / seconds:,.0f} accepted trajectories/s")
    return accepted / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--shard-size", type=int, default=2_000)
    ap.add_argument("--worlds", default="bank, shop, travel, calendar, library")
    ap.add_argument("--flow", action="store_true", help="also build through the Prefect flow and compare")
    ap.add_argument("--workers", type=int, default=1, help="workers for the --flow build")
    ap.add_argument("--synthesize", type=int, default=0, metavar="N",
                    help="add N synthesized domains to --worlds; first measure synthesis and the built-ins alone")
    args = ap.parse_args()

    from agentfab.flows.prefect_env import configure

    configure()
    if args.synthesize:
        baseline = synthesis_figures(args)
        args.worlds += f", {{synthesize: {{domains: {args.synthesize}, seed: 1}}}}"
    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.shard import ShardJob, build_shard

    tmp = Path(tempfile.mkdtemp(prefix="agentfab-bench-"))
    recipe_path = tmp / "bench.yaml"
    recipe_path.write_text(recipe_text(args.records, args.shard_size, args.worlds))
    recipe = parse_recipe(__import__("yaml").safe_load(recipe_path.read_text()))
    out = tmp / "plain"

    # 1. The pipeline without orchestration, in this process: one core.
    t0 = time.perf_counter()
    stages: Counter[str] = Counter()
    accepted = rejected = 0
    for shard in range(recipe.n_shards):
        stats = build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp), str(out), shard))
        stages.update(stats["timings"])
        accepted += stats["rows"]["accepted"]
        rejected += stats["rows"]["rejected"]
    plain = time.perf_counter() - t0
    own, _ = peak_rss_mb()
    print(f"tasks: {args.records}  worlds: {args.worlds}  shards: {recipe.n_shards} x {args.shard_size}")
    print(f"in-process, 1 core: {plain:.2f}s  -> {args.records / plain:,.0f} tasks/s, "
          f"{accepted / plain:,.0f} accepted (verified) trajectories/s; {accepted} accepted, {rejected} rejected")
    if args.synthesize:
        print(f"  with {args.synthesize} synthesized domains: {accepted / plain:,.0f} accepted/s against "
              f"{baseline:,.0f} accepted/s over the built-in worlds alone ({accepted / plain / baseline:.2f}x)")
    total = sum(stages.values())
    for name, seconds in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  stage {name:<12} {seconds:7.2f}s  {100 * seconds / total:5.1f}%  "
              f"{1e6 * seconds / args.records:7.1f} us/task")
    print(f"peak RSS (this process): {own:.0f} MB")

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
    raw = 0.0
    for i, path in enumerate(sorted((out / "shards").glob("*.parquet"))):
        table = pq.read_table(path)
        chunk = table.to_pylist()
        t0 = time.perf_counter()
        pq.write_table(pa.Table.from_pylist(chunk, schema=table.schema), tmp / f"raw-{i}.parquet", compression="zstd")
        raw += time.perf_counter() - t0
        del chunk, table
    print(f"pyarrow alone writing the {accepted} accepted rows: {raw:.2f}s ({accepted / raw:,.0f} rows/s); "
          f"the whole pipeline costs {plain / raw:.1f}x that")

    # 3. The same build with and without Prefect, with --workers processes: what does orchestration add?
    if args.flow:
        import json
        import subprocess

        from prefect.logging import disable_run_logger

        from agentfab.flows.build import finalize, prepare_output
        from agentfab.flows.runners import start_pool

        t0 = time.perf_counter()
        bare = tmp / "bare"
        _, todo = prepare_output(recipe, bare, overwrite=False)
        pool = start_pool(args.workers) if args.workers > 1 else None
        jobs = [ShardJob(recipe.canonical(), recipe.hash(), str(tmp), str(bare), i) for i in todo]
        if pool is None:
            for job in jobs:
                build_shard(job)
        else:
            for f in [pool.submit(build_shard, job) for job in jobs]:
                f.result()
            pool.shutdown()
        with disable_run_logger():
            finalize.fn(recipe, bare, time.perf_counter() - t0, todo)
        plain_total = time.perf_counter() - t0

        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "agentfab", "build", str(recipe_path), "--out", str(tmp / "flow"),
                        "--workers", str(args.workers), "--quiet"], check=True, stdout=subprocess.DEVNULL)
        command = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        m = json.loads((tmp / "flow" / "manifest.json").read_text())
        t = m["timings"]
        added = t["total_seconds"] - plain_total
        print(f"{args.workers} worker(s) without Prefect: {plain_total:.2f}s -> {args.records / plain_total:,.0f} tasks/s")
        print(f"{args.workers} worker(s) through the Prefect flow: {t['total_seconds']:.2f}s in build() "
              f"({command:.2f}s for the whole command) -> {args.records / t['total_seconds']:,.0f} tasks/s, "
              f"{m['rows']['accepted'] / t['total_seconds']:,.0f} accepted/s")
        print(f"  Prefect adds {added:.2f}s = {100 * added / t['total_seconds']:.1f}% of build()'s wall time "
              f"(shards {t['shards_wall_seconds']:.2f}s, finalize {t['finalize_seconds']:.2f}s)")
        print(f"  peak RSS of the largest process of the build: {max(peak, before):.0f} MB")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
