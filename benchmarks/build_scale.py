"""How a build scales: wall time, trajectories/s, peak memory of the driver and the workers, bytes per row, finalize.

    python benchmarks/build_scale.py                          # 10k and 100k tasks, 2 worker processes
    python benchmarks/build_scale.py --sizes 10000 100000 1000000
    python benchmarks/build_scale.py --runner dask            # the same on a 2-worker Dask LocalCluster
    python benchmarks/build_scale.py --compare-dask 20000     # shards to Dask from Prefect tasks vs prefect-dask

Each size runs in a fresh process (`agentfab build --quiet`, the real command) while a sampler reads the RSS of
that process and of every descendant once every 0.2 s (benchmarks/proctree.py): the driver (the agentfab process),
the workers (shard processes or Dask workers) and Prefect's temporary server are reported apart. `traj/s` is
accepted rows per wall second, `/CPU s` per CPU second of the whole process tree (driver, workers, server; the
figure a shared machine moves least), `prefect` the server's share of that CPU. Below each size, the memory through the run (the proof of flatness): RSS of the
driver and of the largest worker as the shards complete (sampled every 5 s against the count of shard stats files),
and the driver's growth per shard fitted over the last 90% of the shards. Prints figures; asserts nothing.
On a shared machine the wall figures move with the other load: say so when you quote them.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from proctree import run_tree

from agentfab.flows.process_memory import LOG_ENV, SMAPS_ENV

ROOT = Path(__file__).resolve().parents[1]


def recipe_text(records: int, shard_size: int) -> str:
    return (f"name: scale\nseed: 1\nrecords: {records}\nshard_size: {shard_size}\n"
            "worlds: [bank, shop, travel, calendar, library]\nnegatives: 0.1\n"
            "rollouts: {agent: oracle, recovery: 0.1}\n")


def run_size(records: int, shard_size: int, workers: int, runner: str, tmp: Path, smaps: bool = False) -> dict:
    recipe = tmp / f"scale-{records}.yaml"
    recipe.write_text(recipe_text(records, shard_size))
    out = tmp / f"out-{records}"
    cmd = [sys.executable, "-m", "agentfab", "build", str(recipe), "--out", str(out), "--workers", str(workers),
           "--runner", runner, "--quiet", "--overwrite"]
    stats = out / "stats"
    log = tmp / f"memory-{records}.jsonl"
    log.unlink(missing_ok=True)
    os.environ[LOG_ENV] = str(log)  # every build process appends its memory by allocator (flows/process_memory.py)
    if smaps:
        os.environ[SMAPS_ENV] = "1"
    run = run_tree(cmd, progress=lambda: sum(1 for _ in os.scandir(stats)) if stats.is_dir() else 0)
    if run.returncode != 0:
        raise SystemExit(f"build of {records} failed:\n{run.stderr[-3000:]}")
    wall = run.wall
    m = json.loads((out / "manifest.json").read_text())
    accepted, rejected = m["rows"]["accepted"], m["rows"]["rejected"]
    acc_bytes = sum(p.stat().st_size for p in (out / "shards").glob("*.parquet"))
    rej_bytes = sum(p.stat().st_size for p in (out / "rejected").glob("*.parquet"))
    return {"records": records, "wall_s": wall, "accepted": accepted, "rejected": rejected,
            "trajectories_per_s": accepted / wall, "tasks_per_s": records / wall,
            "shards_s": m["timings"]["shards_wall_seconds"], "finalize_s": m["timings"]["finalize_seconds"],
            "bytes_per_accepted_row": acc_bytes / max(accepted, 1), "bytes_per_rejected_row": rej_bytes / max(rejected, 1),
            "moved_across_shards": m["cross_shard_duplicates_moved"],
            "cpu_s": run.cpu, "prefect_cpu_s": run.cpu_by_role["prefect server"], "peak_mb": run.peak_mb,
            "timeline": run.timeline, "shards": m["shards"], "memory_log": log}


COLUMNS = (("rss", "RSS"), ("anon", "anon"), ("pymalloc", "pymalloc"), ("glibc_in_use", "glibc used"), ("glibc_free", "glibc free"),
           ("arrow", "arrow"), ("sqlite", "sqlite"), ("other", "other"))


def slope(points: list[tuple[int, float]]) -> float | None:
    """Least-squares MB per step."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def allocator_lines(log: Path) -> list[str]:
    """Per process, its memory by allocator (MB) as its steps (shards checked by the driver, built by a worker)
    go by, and each figure's growth per step from 10% and from 50% of its steps on."""
    if not log.is_file():
        return []
    by_pid: dict[tuple[str, int], list[dict]] = {}
    for line in log.read_text().splitlines():
        point = json.loads(line)
        # anonymous RSS not in pymalloc's arenas, glibc's heap (SQLite allocates from it) or Arrow's pool: stacks,
        # and what an allocator keeps that none of them reports (glibc's kept free pages may not be resident)
        known = sum(point.get(k, 0) for k in ("pymalloc", "glibc_in_use", "glibc_free", "arrow"))
        point["other"] = point.get("anon", point.get("rss", 0)) - known
        by_pid.setdefault((point["role"], point["pid"]), []).append(point)
    lines = []
    for (role, pid), points in sorted(by_pid.items(), key=lambda kv: (kv[0][0] != "checks", -len(kv[1]))):
        if role == "shard" and len(points) < 2:
            continue  # the driver's warm-up shard
        who = "driver, shards checked" if role == "checks" else f"worker {pid}, shards built"
        backend = points[-1].get("arrow_backend", "")
        lines.append(f"    {who} (arrow pool: {backend}), MB: " + " ".join(f"{t:>10}" for _, t in COLUMNS))
        last = points[-1]["n"]
        shown = set()
        for share in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
            want = max(1, round(share * last))
            p = next(p for p in points if p["n"] >= want)
            if p["n"] not in shown:
                shown.add(p["n"])
                lines.append(f"      {p['n']:>5} " + " ".join(f"{p.get(k, float('nan')):>10.1f}" for k, _ in COLUMNS))
        for start in (0.1, 0.5):
            fit = [p for p in points if p["n"] >= max(2, round(start * last))]
            grows = [slope([(p["n"], p[k]) for p in fit if k in p]) for k, _ in COLUMNS]
            lines.append(f"      MB per shard from {fit[0]['n']} to {fit[-1]['n']}: " + " ".join(
                f"{g:>+10.3f}" if g is not None else f"{'':>10}" for g in grows))
    return lines


def _mapping_class(mapping: list, probes: dict[str, list[int]]) -> str:
    """Whose memory a mapping holds: the allocators whose addresses (sorted) fell in it, else what its name says."""
    start, end, _, name = mapping[:4]
    owners = sorted(k.split("_")[0] for k, addrs in probes.items()
                    if bisect.bisect_left(addrs, end) > bisect.bisect_left(addrs, start))
    if owners:
        return "+".join(dict.fromkeys(owners))
    if name.startswith("["):
        return name
    return "file pages copied" if name else "anonymous, no allocator seen"


def smaps_lines(log: Path) -> list[str]:
    """The driver's anonymous memory by mapping (AGENTFAB_MEMORY_SMAPS): per class of mapping (the allocator whose
    addresses fell in it at any step, else its name), MB at 10% / 50% / 100% of its steps and growth per step over
    the second half; then the mappings that grew most over that half."""
    points = [p for p in map(json.loads, log.read_text().splitlines()) if p["role"] == "checks" and "maps" in p]
    if len(points) < 4:
        return []
    probes: dict[str, list[int]] = {}
    for p in points:
        for k, addrs in p["probes"].items():
            probes.setdefault(k, []).extend(addrs)
    probes = {k: sorted(set(addrs)) for k, addrs in probes.items()}
    last = points[-1]["n"]
    at = {share: next(p for p in points if p["n"] >= max(2, round(share * last))) for share in (0.1, 0.5, 1.0)}
    by_class: list[dict[str, float]] = []
    for p in points:
        sums: dict[str, float] = {}
        for m in p["maps"]:
            c = _mapping_class(m, probes)
            sums[c] = sums.get(c, 0.0) + m[5] / 1024
        by_class.append(sums)
    names = sorted({c for sums in by_class for c in sums}, key=lambda c: -by_class[-1].get(c, 0.0))
    half = [(p["n"], sums) for p, sums in zip(points, by_class) if p["n"] >= at[0.5]["n"]]
    lines = [f"    driver's anonymous memory by mapping, MB at checked shards {at[0.1]['n']} / {at[0.5]['n']} / "
             f"{last}, and per shard from {at[0.5]['n']} on:"]
    for c in names:
        seen = [next(s for p, s in zip(points, by_class) if p is at[k]).get(c, 0.0) for k in (0.1, 0.5, 1.0)]
        grows = slope([(n, s.get(c, 0.0)) for n, s in half]) or 0.0
        lines.append(f"      {c:<34} {seen[0]:8.1f} {seen[1]:8.1f} {seen[2]:8.1f} {grows:+9.4f}")
    before = {m[0]: m for m in at[0.5]["maps"]}
    grew = sorted(((m[5] - before.get(m[0], [0] * 6)[5]) / 1024, m) for m in at[1.0]["maps"])[::-1][:8]
    lines.append(f"      mappings that grew most from {at[0.5]['n']} to {last} (start, size MB, class, MB):")
    for d, m in grew:
        lines.append(f"        {m[0]:#x} {(m[1] - m[0]) / 2**20:8.1f} {_mapping_class(m, probes):<30} "
                     f"{before.get(m[0], [0] * 6)[5] / 1024:7.1f} -> {m[5] / 1024:7.1f} ({d:+.1f}) {m[3]}")
    return lines


def memory_trajectory(timeline: list[tuple[float, int, int, int, int]], shards: int) -> list[str]:
    """Lines: RSS of the driver and the largest worker when 1, 5%, 10%, 20%, ... of the shards were done, and the
    driver's MB per shard (least squares over the samples from 10% of the shards on, finalize excluded)."""
    mb = 2**20
    lines, shown = [], set()
    for share in (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0):
        want = max(1, round(share * shards))
        point = next((p for p in timeline if p[1] >= want), None)
        if point is not None and point not in shown:
            shown.add(point)
            t, done, driver, worker, _ = point
            lines.append(f"    {done:>5} of {shards} shards at {t:7.0f} s: driver {driver / mb:6.0f} MB, "
                         f"largest worker {worker / mb:6.0f} MB")
    fit = [(done, driver / mb) for _, done, driver, _, _ in timeline if max(1, shards // 10) <= done < shards]
    if len({d for d, _ in fit}) >= 2:
        n = len(fit)
        mx, my = sum(d for d, _ in fit) / n, sum(r for _, r in fit) / n
        slope = sum((d - mx) * (r - my) for d, r in fit) / sum((d - mx) ** 2 for d, _ in fit)
        lines.append(f"    driver growth {slope:+.2f} MB per shard (least squares, {n} samples from "
                     f"{fit[0][0]} to {fit[-1][0]} shards done)")
    return lines


def compare_dask(records: int, shard_size: int, tmp: Path) -> None:
    """The same shards three ways, each a Prefect flow run on the ephemeral server, 2 workers."""
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from agentfab.flows.prefect_env import configure

    configure()
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from agentfab.flows.build import build, finalize, prepare_output, shard_jobs
    from agentfab.flows.dask_runner import DaskRunner
    from agentfab.flows.recipe import load_recipe
    from agentfab.flows.runners import ProcessRunner
    from agentfab.flows.shard import build_shard

    recipe_path = tmp / "compare.yaml"
    recipe_path.write_text(recipe_text(records, shard_size))
    figures = {}
    for name, make in (("process pool, Prefect task per shard", lambda: ProcessRunner(2)),
                       ("Dask direct from Prefect tasks (agentfab --runner dask)", lambda: DaskRunner(workers=2))):
        t0 = time.perf_counter()
        with make() as runner:
            build(recipe_path, out=tmp / f"cmp-{len(figures)}", runner=runner, overwrite=True)
        figures[name] = time.perf_counter() - t0
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        print("prefect-dask is not installed (pip install prefect-dask): its row is skipped")
    else:
        @task(name="build-shard-on-dask", cache_policy=NO_CACHE)
        def shard_task(job):  # type: ignore[no-untyped-def]
            return build_shard(job)

        runner = DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True,
                                                "dashboard_address": None})

        @flow(name="prefect-dask-build", task_runner=runner)
        def via_prefect_dask(jobs):  # type: ignore[no-untyped-def]
            return [f.result() for f in shard_task.map(jobs)]

        recipe, recipe_dir = load_recipe(recipe_path, {})
        out = tmp / "cmp-prefect-dask"
        t0 = time.perf_counter()
        version, todo = prepare_output(recipe, out, overwrite=True, recipe_dir=recipe_dir)
        via_prefect_dask(shard_jobs(recipe, str(recipe_dir), str(out), version, todo))
        finalize.fn(recipe, out, time.perf_counter() - t0, todo, version)
        figures["Prefect tasks on Dask workers (prefect-dask DaskTaskRunner)"] = time.perf_counter() - t0
    print(f"\n{records:,} tasks in {-(-records // shard_size)} shards, 2 workers, whole build wall time:")
    for name, seconds in figures.items():
        print(f"  {name:<62} {seconds:7.1f} s  ({records / seconds:,.0f} tasks/s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--shard-size", type=int, default=5_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runner", choices=["process", "dask"], default="process")
    ap.add_argument("--compare-dask", type=int, metavar="TASKS", help="Compare the Dask routes on TASKS tasks.")
    ap.add_argument("--keep", action="store_true", help="Keep the built datasets (printed folder).")
    ap.add_argument("--smaps", action="store_true", help="Log every process's mappings at each step and print "
                    "the driver's anonymous memory by mapping (AGENTFAB_MEMORY_SMAPS).")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="agentfab-scale-"))
    try:
        if args.compare_dask:
            compare_dask(args.compare_dask, max(1000, args.compare_dask // 10), tmp)
            return
        print(f"runner {args.runner}, {args.workers} workers, shards of {args.shard_size:,}; {os.cpu_count()} cores "
              f"(shared machine: figures move with other load)")
        header = (f"{'tasks':>9} {'wall s':>7} {'CPU s':>7} {'traj/s':>7} {'/CPU s':>7} {'finalize s':>10} "
                  f"{'prefect':>7} {'B/row':>6} {'driver MB':>9} {'worker MB':>9} {'workers MB':>10} "
                  f"{'prefect MB':>10} {'moved':>6}")
        print(header)
        for size in args.sizes:
            r = run_size(size, args.shard_size, args.workers, args.runner, tmp, args.smaps)
            p = r["peak_mb"]
            print(f"{size:>9,} {r['wall_s']:>7.1f} {r['cpu_s']:>7.1f} {r['trajectories_per_s']:>7,.0f} "
                  f"{r['accepted'] / r['cpu_s']:>7,.0f} {r['finalize_s']:>10.2f} "
                  f"{100 * r['prefect_cpu_s'] / r['cpu_s']:>6.1f}% {r['bytes_per_accepted_row']:>6,.0f} {p['driver']:>9,.0f} "
                  f"{p['worker']:>9,.0f} {p['workers together']:>10,.0f} {p['prefect server']:>10,.0f} "
                  f"{r['moved_across_shards']:>6,}", flush=True)
            lines = memory_trajectory(r["timeline"], r["shards"]) + allocator_lines(r["memory_log"])
            for line in lines + (smaps_lines(r["memory_log"]) if args.smaps else []):
                print(line, flush=True)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
