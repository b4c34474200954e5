"""What grows with the shard count: tracemalloc snapshots of the build's driver and workers, compared by traceback.

    python benchmarks/trace_memory.py --records 100000 --shard-size 2000 --every 10

Runs the build as `agentfab build` does (Prefect's temporary server, a forked process pool, the checks across
shards in the driver) on a throwaway recipe, and every `--every` shards done:
  - the driver: a tracemalloc snapshot, its RSS, glibc's heap, Arrow's pool and SQLite's own allocator
    (none of them traced; flows/process_memory.py);
  - each worker, every `--every` shards it built: the same.
At the end, for the driver and one worker, the allocations still alive that grew the most between the first
snapshot after warm-up and the last one, grouped by traceback (`--frames` deep), with the growth per shard.
Tracing slows Python allocation ~2-3x: the times printed are not the build's speed. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

_WORKER = {"built": 0}


def _point(label: str, trace_dir: Path, count: int) -> str:
    """Dump a snapshot named for this process and `count`; the line to print about it."""
    from agentfab.flows.process_memory import figures

    gc.collect()
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__),
                                                     tracemalloc.Filter(False, "<frozen importlib._bootstrap>")])
    snap.dump(str(trace_dir / f"{label}-{os.getpid()}-{count:05d}.snap"))
    traced, _ = tracemalloc.get_traced_memory()
    f = figures()
    return (f"{label} {os.getpid()} at {count:4d} shards: RSS {f['rss']:6.0f} MB, traced {traced / 2**20:6.1f} MB, "
            f"glibc in use {f.get('glibc_in_use', -1):5.1f} + free {f.get('glibc_free', -1):5.1f} MB, "
            f"arrow pool {f.get('arrow', -1):5.1f} MB, sqlite {f.get('sqlite', -1):5.1f} MB, "
            f"gc objects {len(gc.get_objects()):,}")


def traced_shard(job, trace_dir: str, every: int, frames: int):  # type: ignore[no-untyped-def]
    """build_shard in a worker, tracing from its first shard on (after the fork: warm caches are not counted)."""
    from agentfab.flows.shard import build_shard

    if not tracemalloc.is_tracing():
        tracemalloc.start(frames)
    stats = build_shard(job)
    _WORKER["built"] += 1
    n = _WORKER["built"]
    if n == 2 or n % every == 0:
        line = _point("worker", Path(trace_dir), n)
        with open(Path(trace_dir) / "log.txt", "a") as fh:
            fh.write(line + "\n")
    return stats


def make_runner(workers: int, trace_dir: Path, every: int, frames: int, trace_workers: bool):  # type: ignore[no-untyped-def]
    from agentfab.flows.runners import ProcessRunner

    class TracedRunner(ProcessRunner):
        def open(self, n_jobs, warm=None):  # type: ignore[no-untyped-def]
            super().open(n_jobs, warm)
            if not tracemalloc.is_tracing():  # the driver, from after the fork on
                tracemalloc.start(frames)

        def submit(self, job) -> Future:  # type: ignore[no-untyped-def]
            if self.pool is None or not trace_workers:
                return super().submit(job)
            return self.pool.submit(traced_shard, job, str(trace_dir), every, frames)

    return TracedRunner(workers)


def compare(trace_dir: Path, label: str, top: int) -> None:
    snaps = sorted(trace_dir.glob(f"{label}-*.snap"))
    if not snaps:
        return
    pid = snaps[-1].name.split("-")[1]
    mine = sorted(p for p in snaps if p.name.split("-")[1] == pid)
    if len(mine) < 2:
        return
    first, last = mine[1] if len(mine) > 2 else mine[0], mine[-1]
    n0, n1 = int(first.stem.rsplit("-", 1)[1]), int(last.stem.rsplit("-", 1)[1])
    a, b = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(last))
    total = sum(s.size_diff for s in b.compare_to(a, "filename"))
    print(f"\n{label} {pid}: traced growth {total / 2**20:+.2f} MB from {n0} to {n1} shards "
          f"({total / 2**20 / max(1, n1 - n0):+.3f} MB/shard); largest growth by traceback:")
    for stat in b.compare_to(a, "traceback")[:top]:
        if stat.size_diff <= 0:
            continue
        print(f"  {stat.size_diff / 1024:+9.0f} KiB ({stat.count_diff:+,} blocks), now {stat.size / 1024:,.0f} KiB")
        for frame in stat.traceback.format()[-2 * 6:]:
            print("     " + frame.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--shard-size", type=int, default=2_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--every", type=int, default=10, help="Snapshot every this many shards.")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--trace-workers", action="store_true",
                    help="Trace the workers too (their Python allocation slows ~5x: use a smaller build).")
    ap.add_argument("--keep", action="store_true", help="Keep the dataset and the snapshots (printed folder).")
    args = ap.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from agentfab.flows.prefect_env import configure, quiet_console

    configure()
    quiet_console()
    from agentfab.flows.lifeline import start_server

    start_server()
    from build_scale import recipe_text

    from agentfab.flows.build import build

    tmp = Path(tempfile.mkdtemp(prefix="agentfab-trace-"))
    trace_dir = tmp / "traces"
    trace_dir.mkdir()
    recipe = tmp / "trace.yaml"
    recipe.write_text(recipe_text(args.records, args.shard_size))
    runner = make_runner(args.workers, trace_dir, args.every, args.frames, args.trace_workers)
    done = {"n": 0}
    lock = threading.Lock()

    def heard(event: str, data: dict) -> None:
        if event != "shard_done":
            return
        with lock:
            done["n"] += 1
            n = done["n"]
        if n == 2 or n % args.every == 0:
            print(_point("driver", trace_dir, n), flush=True)

    runner.progress = heard
    t0 = time.perf_counter()
    with runner, ThreadPoolExecutor(max_workers=1) as pool:  # off the main thread, as the command runs it
        pool.submit(build, recipe, out=tmp / "out", runner=runner, overwrite=True).result()
    print(_point("finalized", trace_dir, done["n"]), flush=True)
    print(f"built {args.records:,} tasks in {time.perf_counter() - t0:.0f} s (traced: slower than a real build)")
    log = trace_dir / "log.txt"
    if log.is_file():
        print(log.read_text(), end="")
    compare(trace_dir, "driver", args.top)
    compare(trace_dir, "worker", args.top)
    if args.keep:
        print(f"kept {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    os._exit(0)  # Prefect's temporary server and threads: nothing left to wait for


if __name__ == "__main__":
    main()
