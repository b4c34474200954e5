"""What this design cannot skip, per verified trajectory, against the 200 us that 5,000 verified/s/core allows.

    python benchmarks/floor.py                  # 3 shards of 2,000 tasks of the benchmark recipe, after a warm one
    python benchmarks/floor.py --shards 5

Builds shards in-process (as benchmarks/build_offline.py does) and keeps every record that reached the checks.
Then times, in CPU seconds, only the work every row of the design needs whatever code does it:
  - execution: every call of every trajectory executed on a fresh fork of its world and compared with its
    observation (validators.replay.replay, the replay the funnel runs). Composing a task executes its calls once
    more (its ground truth is computed, not assumed), so the floor counts execution twice;
  - schema: every call's arguments checked against its tool's JSON Schema (validators.structure.check_calls);
  - writing: the accepted and rejected rows made Arrow and written to zstd Parquet, as the shard's own write stage
    does it (its CPU time), or pyarrow alone from the rows as Python objects (`Table.from_pylist`), whichever is
    cheaper.
The rest (drawing tasks, the request, thoughts and replies, the reading checks, judge, dedup, negatives' own
rollouts) is what the design adds on top; the figure it must then fit in is printed. Prints figures; asserts
nothing (issue #12).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from build_offline import recipe_text, write_alone

BUDGET_US = 1e6 / 5_000  # issue #12's in-process floor: 5,000 verified trajectories/s on one core


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shards", type=int, default=3, help="measured shards of 2,000 tasks (default 3)")
    args = ap.parse_args()

    import agentfab.flows.shard as shard_module
    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.shard import ShardJob, build_shard
    from agentfab.validators.reading import Reading
    from agentfab.validators.replay import expected_errors, replay
    from agentfab.validators.structure import check_calls

    tmp = Path(tempfile.mkdtemp(prefix="agentfab-floor-"))
    recipe = parse_recipe(yaml.safe_load(recipe_text(2_000 * (args.shards + 1), 2_000,
                                                     "bank, shop, travel, calendar, library")))
    records: list = []
    original = shard_module.verify_stage

    def keeping(record) -> None:  # type: ignore[no-untyped-def]
        original(record)
        records.append(record)

    build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp), str(tmp / "out"), 0))  # warm: imports, memos
    shard_module.verify_stage = keeping
    accepted, own_write = 0, 0.0
    shard_module.stage_clock = time.process_time  # the stages' CPU seconds, any threads pyarrow uses included
    c0 = time.process_time()
    try:
        for i in range(1, args.shards + 1):
            stats = build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp), str(tmp / "out"), i))
            accepted += stats["rows"]["accepted"]
            own_write += stats["timings"]["write"]
    finally:
        shard_module.verify_stage = original
        shard_module.stage_clock = time.perf_counter
    build_cpu = time.process_time() - c0
    calls = sum(len(r.reading.calls) for r in records)

    prepared = [(r.content, r.offered, r.draft.world.store, Reading(r.content, r.draft.texts), r.task)
                for r in records]
    c0 = time.process_time()
    for content, offered, store, reading, task in prepared:
        replay(content, offered, store, expected_errors(task, reading.plan_arguments(task)), reading)
    execution = time.process_time() - c0
    c0 = time.process_time()
    for content, offered, _, reading, _ in prepared:
        check_calls(content, offered, reading.call_keys)
    schema = time.process_time() - c0

    measured = [next((tmp / "out" / "shards").glob(f"*{i:05d}*.parquet")) for i in range(1, args.shards + 1)]
    alone = write_alone(measured, tmp, time.process_time)
    shutil.rmtree(tmp, ignore_errors=True)
    writing = min(own_write, alone)

    def us(seconds: float) -> float:
        return 1e6 * seconds / accepted

    floor = 2 * execution + schema + writing
    print(f"{args.shards} shards of 2,000 tasks: {accepted:,} verified trajectories, {len(records):,} records "
          f"checked ({calls:,} calls), built in {build_cpu:.2f}s CPU -> {us(build_cpu):.0f} us per verified "
          f"trajectory ({accepted / build_cpu:,.0f}/s)")
    print("what the design cannot skip, us per verified trajectory (CPU):")
    print(f"  execution, twice (composing, then the replay on a fresh world) {2 * us(execution):7.1f}")
    print(f"  every call against its JSON Schema                             {us(schema):7.1f}")
    print(f"  the rows written to Parquet                                    {us(writing):7.1f}  (the shard's own "
          f"write stage, both files: {us(own_write):.1f}; pyarrow alone, the accepted file: {us(alone):.1f})")
    print(f"  sum                                                            {us(floor):7.1f}  "
          f"({100 * us(floor) / BUDGET_US:.0f}% of the {BUDGET_US:.0f} us that 5,000/s allows)")
    print(f"everything else now costs {us(build_cpu - floor):.0f} us per verified trajectory; at 5,000/s it must fit "
          f"in {BUDGET_US - us(floor):.0f} us ({(us(build_cpu) - us(floor)) / (BUDGET_US - us(floor)):.1f}x less)")


if __name__ == "__main__":
    sys.exit(main())
