"""A digest of every row a build makes: the guard for speed work, which must not change a single row.

    python benchmarks/rows_digest.py                 # benchmark recipe (4,000 tasks) + the quickstart, in-process
    python benchmarks/rows_digest.py --dump DIR      # also write each shard's rows as JSON lines, to diff two runs
    python benchmarks/rows_digest.py --profile FILE  # cProfile the shard builds into FILE

Builds the recipe of benchmarks/build_offline.py (smaller) and data/recipes/quickstart.yaml, shard by shard in this
process, reads back the accepted and rejected Parquet files and prints one SHA-256 per shard and one per build over
the rows (canonical JSON) and the shard stats without their timings and their files' checksums, then one over those
checksums apart (`files`: a change to how rows are written moves only that one when the rows stay the same). Also
prints the CPU time per task (time.process_time, so the figure holds on a loaded machine). Run it before and after a
change: the rows' digests must match.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
BENCH = ("name: bench\nseed: 1\nrecords: {records}\nshard_size: 2000\n"
         "worlds: [bank, shop, travel, calendar, library]\nnegatives: 0.1\nrollouts: {{agent: oracle, recovery: 0.1}}\n")


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def build_digest(name: str, data: dict, recipe_dir: Path, dump: Path | None, profile: cProfile.Profile | None
                 ) -> tuple[str, str, int, float]:
    """Build every shard of the recipe in-process; returns (the rows' digest, the files' digest, tasks, CPU seconds
    spent building)."""
    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.shard import ShardJob, build_shard

    recipe = parse_recipe(data)
    tmp = Path(tempfile.mkdtemp(prefix="agentfab-digest-"))
    whole, files = hashlib.sha256(), hashlib.sha256()
    cpu = 0.0
    try:
        for shard in range(recipe.n_shards):
            job = ShardJob(recipe.canonical(), recipe.hash(), str(recipe_dir), str(tmp / "out"), shard)
            t0 = time.process_time()
            if profile is not None:
                profile.enable()
            stats = build_shard(job)
            if profile is not None:
                profile.disable()
            cpu += time.process_time() - t0
            stats.pop("timings", None)
            stats.pop("seconds", None)
            files.update(_canonical(stats.pop("files", None)))  # the files' checksums: their bytes, not their rows
            h = hashlib.sha256(_canonical(stats))
            lines = []
            for part in ("shards", "rejected"):
                path = tmp / "out" / part / f"shard-{shard:05d}.parquet"
                for row in pq.read_table(path).to_pylist():
                    line = _canonical(row)
                    h.update(line)
                    lines.append(line)
            if dump is not None:
                dump.mkdir(parents=True, exist_ok=True)
                (dump / f"{name}-{shard:05d}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
            print(f"  {name} shard {shard}: {h.hexdigest()[:16]}  ({stats['rows']['accepted']} accepted, "
                  f"{stats['rows']['rejected']} rejected)")
            whole.update(h.digest())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return whole.hexdigest(), files.hexdigest(), recipe.records, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=4000, help="tasks of the benchmark recipe")
    ap.add_argument("--only", choices=("bench", "quickstart"), help="build one recipe only")
    ap.add_argument("--dump", type=Path, help="write each shard's rows as JSON lines into this folder")
    ap.add_argument("--profile", type=Path, help="write a cProfile of the shard builds to this file")
    args = ap.parse_args()

    from agentfab.flows.prefect_env import configure

    configure()
    profile = cProfile.Profile() if args.profile else None
    recipes = {"bench": (yaml.safe_load(BENCH.format(records=args.records)), ROOT),
               "quickstart": (yaml.safe_load((ROOT / "data/recipes/quickstart.yaml").read_text()),
                              ROOT / "data/recipes")}
    for name, (data, recipe_dir) in recipes.items():
        if args.only and name != args.only:
            continue
        digest, files, tasks, cpu = build_digest(name, data, recipe_dir, args.dump, profile)
        print(f"{name}: {digest}  files {files[:16]}  {tasks} tasks, {1e6 * cpu / tasks:,.0f} us CPU/task")
    if profile is not None:
        profile.dump_stats(str(args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
