"""A build worker alone: shards built one after another in this process, its memory and CPU after each.

    python benchmarks/worker_memory.py --shards 64 --shard-size 5000 --types-every 16

Builds shards 0..N-1 of build_scale.py's recipe as one worker of `agentfab build` does (the caches warmed first,
as the driver warms them before it forks its workers), deleting each shard's files once written. After each shard,
one line: its CPU seconds (time.process_time), RSS, pymalloc's arenas, live Python blocks (after a collection),
and every module-level cache of agentfab that grew since the shard before (lru_cache entries, dict/set/list
lengths). Every `--types-every` shards, the live objects by type that grew most since the last such count. At the
end: least-squares growth per shard of RSS, pymalloc, blocks and CPU over the second half of the shards (the part
that should be flat). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_scale import recipe_text, slope  # noqa: E402


def module_caches() -> dict[str, int]:
    """Entries held by each module-level cache of agentfab: an lru_cache's, a dict's, set's or list's length."""
    sizes, seen = {}, set()
    for name, module in sorted(sys.modules.items()):
        if not name.startswith("agentfab") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if id(value) in seen:  # imported into another module: counted once, where first seen
                continue
            seen.add(id(value))
            info = getattr(value, "cache_info", None)
            if callable(info):
                sizes[f"{name}.{attr}()"] = info().currsize
            elif isinstance(value, (dict, set, list)) and not attr.startswith("__"):
                sizes[f"{name}.{attr}"] = len(value)
    return sizes


def _counts(profile: cProfile.Profile) -> dict[str, int]:
    """Calls per function of a finished profile (primitive and recursive)."""
    stats = pstats.Stats(profile)
    return {pstats.func_std_string(k): v[1] for k, v in stats.stats.items()}  # type: ignore[attr-defined]


def type_counts() -> Counter[str]:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=64)
    ap.add_argument("--shard-size", type=int, default=5_000)
    ap.add_argument("--types-every", type=int, default=16, help="Count live objects by type every this many shards.")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--calls", type=int, nargs="*", default=[],
                    help="Count the function calls of these shards (cProfile, 1-based); compare the first and last.")
    args = ap.parse_args()
    from agentfab.flows.build import prepare_output, shard_jobs, warm_caches
    from agentfab.flows.process_memory import figures
    from agentfab.flows.recipe import load_recipe
    from agentfab.flows.shard import build_shard

    tmp = Path(tempfile.mkdtemp(prefix="agentfab-worker-"))
    try:
        path = tmp / "scale.yaml"
        path.write_text(recipe_text(args.shards * args.shard_size, args.shard_size))
        recipe, recipe_dir = load_recipe(path, {})
        out = tmp / "out"
        version, todo = prepare_output(recipe, out, overwrite=True, recipe_dir=recipe_dir)
        jobs = shard_jobs(recipe, str(recipe_dir), str(out), version, todo)
        warm_caches(recipe, recipe_dir)
        gc.collect()
        caches, types = module_caches(), type_counts()
        points = []
        print(f"{'shard':>5} {'CPU s':>6} {'RSS MB':>7} {'pymalloc':>8} {'blocks':>10}  caches grown")
        calls: dict[int, dict[str, int]] = {}
        halfway: dict[str, int] = {}
        for job in jobs:
            profile = cProfile.Profile() if job.shard + 1 in args.calls else None
            t0 = time.process_time()
            if profile is not None:
                profile.runcall(build_shard, job)
                calls[job.shard + 1] = _counts(profile)
            else:
                build_shard(job)
            cpu = time.process_time() - t0
            for sub in ("shards", "rejected", "stats"):
                shutil.rmtree(out / sub, ignore_errors=True)
            gc.collect()
            f = figures()
            now = module_caches()
            grown = {k: v - caches.get(k, 0) for k, v in now.items() if v != caches.get(k, 0)}
            caches = now
            if job.shard + 1 == len(jobs) // 2:
                halfway = dict(now)
            points.append((job.shard + 1, cpu, f.get("rss", 0.0), f.get("pymalloc", 0.0), f["python_blocks"]))
            top = sorted(grown.items(), key=lambda kv: -abs(kv[1]))[:6]
            print(f"{job.shard + 1:>5} {cpu:>6.2f} {f.get('rss', 0):>7.1f} {f.get('pymalloc', 0):>8.1f} "
                  f"{f['python_blocks']:>10,}  " + ", ".join(f"{k.removeprefix('agentfab.')} {d:+,} ({now[k]:,})"
                                                            for k, d in top), flush=True)
            if (job.shard + 1) % args.types_every == 0:
                counted = type_counts()
                diff = sorted(((n - types.get(t, 0), t, n) for t, n in counted.items()), reverse=True)[:args.top]
                print("      live objects grown since the last count: " +
                      ", ".join(f"{t} {d:+,} ({n:,})" for d, t, n in diff if d > 0), flush=True)
                types = counted
        for n, counted in calls.items():
            print(f"shard {n}: {sum(counted.values()):,} function calls (cProfile)")
        if len(calls) >= 2:
            first, last = calls[min(calls)], calls[max(calls)]
            diff = sorted(((last.get(k, 0) - first.get(k, 0), k) for k in set(first) | set(last)), reverse=True)
            print(f"calls grown most from shard {min(calls)} to {max(calls)}:")
            for d, k in diff[:args.top]:
                print(f"  {d:+10,} {k} ({first.get(k, 0):,} -> {last.get(k, 0):,})")
        half = points[len(points) // 2:]
        grown = {k: v - halfway.get(k, 0) for k, v in caches.items() if v > halfway.get(k, 0)}
        print(f"module caches grown over the second half: " + (", ".join(
            f"{k.removeprefix('agentfab.')} {d:+,} ({caches[k]:,})"
            for k, d in sorted(grown.items(), key=lambda kv: -kv[1])) or "none"))
        fits = [slope([(p[0], p[i]) for p in half]) for i in (2, 3, 4, 1)]
        print(f"second half (shards {half[0][0]}-{half[-1][0]}), per shard built: RSS {fits[0]:+.3f} MB, "
              f"pymalloc {fits[1]:+.3f} MB, blocks {fits[2]:+,.0f}, CPU {fits[3]:+.4f} s "
              f"(mean CPU {sum(p[1] for p in half) / len(half):.2f} s, first half "
              f"{sum(p[1] for p in points[:len(half)]) / len(half):.2f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os._exit(0)


if __name__ == "__main__":
    main()
