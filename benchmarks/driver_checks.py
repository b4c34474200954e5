"""The build driver's checks across shards, alone: CPU per shard checked, and what in it grows with the index.

    python benchmarks/driver_checks.py --shards 20 --shard-size 5000

Builds shards 0..N-1 of build_scale.py's recipe in this process once (kept in --keep-dir, reused by the next run
with the same sizes), copies them, then runs the driver's checks (flows/crossshard.ShardChecks, as `agentfab build`
runs them while its workers build) one shard at a time. Per shard: CPU seconds (time.process_time) of the whole
check, of the duplicate index's `check` and of moving rows to rejected/; rows moved; and the near-duplicate
candidates the index joined (indexed rows sharing a band with an asked row, or whose set's hashes match one's: what
may grow with the rows indexed). At the end, least-squares growth per shard of each. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_scale import recipe_text, slope  # noqa: E402


class _CountingDb:
    """The index's SQLite connection, counting the rows of its candidate joins (by band, by a set's hashes; the
    queries' texts are their own)."""

    def __init__(self, db, spent):  # type: ignore[no-untyped-def]
        self.db, self.spent = db, spent

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.db, name)

    def execute(self, sql, *params):  # type: ignore[no-untyped-def]
        cursor = self.db.execute(sql, *params)
        if not sql.startswith(("SELECT a.pos, a.band, b.row", "SELECT a.pos, s.row FROM ask_near")):
            return cursor
        rows = cursor.fetchall()
        self.spent["candidates"] += len(rows)
        return _Fetched(rows)


class _Fetched(list):  # type: ignore[type-arg]
    def fetchall(self) -> list:  # type: ignore[type-arg]
        return list(self)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=20)
    ap.add_argument("--shard-size", type=int, default=5_000)
    ap.add_argument("--keep-dir", type=Path, default=Path("/tmp/agentfab-driver-checks"))
    args = ap.parse_args()
    import agentfab.flows.crossshard as crossshard
    from agentfab.flows.build import prepare_output, shard_checks, shard_jobs
    from agentfab.flows.recipe import load_recipe
    from agentfab.flows.shard import build_shard
    from agentfab.validators.near_index import NearIndex

    base = args.keep_dir / f"{args.shards}x{args.shard_size}"
    base.mkdir(parents=True, exist_ok=True)
    path = base / "scale.yaml"
    path.write_text(recipe_text(args.shards * args.shard_size, args.shard_size))
    recipe, recipe_dir = load_recipe(path, {})
    if not (base / "built").exists():
        version, todo = prepare_output(recipe, base / "out", overwrite=True, recipe_dir=recipe_dir)
        for job in shard_jobs(recipe, str(recipe_dir), str(base / "out"), version, todo):
            build_shard(job)
        (base / "built").write_text("")
    spent = {"check": 0.0, "move": 0.0, "candidates": 0}
    check, move_rows = NearIndex.check, crossshard.move_rows

    def timed_check(self, keys, features):  # type: ignore[no-untyped-def]
        t0 = time.process_time()
        out = check(self, keys, features)
        spent["check"] += time.process_time() - t0
        return out

    def timed_move(*a, **kw):  # type: ignore[no-untyped-def]
        t0 = time.process_time()
        move_rows(*a, **kw)
        spent["move"] += time.process_time() - t0

    NearIndex.check, crossshard.move_rows = timed_check, timed_move
    work = base / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(base / "out", work)
    checks = shard_checks(recipe, work, 1)
    if checks.near is not None:
        checks.near._db = _CountingDb(checks.near._db, spent)
    print(f"{'shard':>5} {'CPU s':>6} {'index':>6} {'move':>6} {'moved':>6} {'candidates':>10}")
    points = []
    for k in range(1, args.shards + 1):
        spent.update(check=0.0, move=0.0, candidates=0)
        moved = sum(checks.report.moved.values())
        t0 = time.process_time()
        checks.run(k)
        cpu = time.process_time() - t0
        moved = sum(checks.report.moved.values()) - moved
        points.append((k, cpu, spent["check"], spent["move"], moved, spent["candidates"]))
        print(f"{k:>5} {cpu:>6.2f} {spent['check']:>6.2f} {spent['move']:>6.2f} {moved:>6,} "
              f"{spent['candidates']:>10,}", flush=True)
    fit = points[1:]
    names = ("CPU s", "index s", "move s", "moved", "candidates")
    print(f"growth per shard checked (shards {fit[0][0]}-{fit[-1][0]}): " +
          ", ".join(f"{n} {slope([(p[0], p[i + 1]) for p in fit]):+.4g}" for i, n in enumerate(names)))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
