"""Steady-state CPU of the rollout stage, measured so that a loaded machine moves it little.

    python benchmarks/rollout_stage.py                        # benchmark recipe, 2,000 tasks a run, fastest of 5
    python benchmarks/rollout_stage.py --recipe quickstart --records 1500 --reps 7
    python benchmarks/rollout_stage.py --profile out.prof     # cProfile the timed runs
    python benchmarks/rollout_stage.py --calls                # + function calls per task (load-independent)

Tasks are composed and phrased for `--reps` + 1 shards of `--records` tasks each (different tasks in each shard, as
a build makes them). The first shard is rolled out to seed the world variants and fill the per-tool caches, as the
first tasks of a worker do; each other shard is then rolled out once, timed with time.process_time (which other
processes on the machine slow far less than the wall clock), and the fastest shard's time per task is the figure.
Every timed task is new to the process, so a cache keyed by values helps only as much as it would in a build.
Each rollout is run a second time from the same random state and must give the same events: the count of those that
did not is printed (it must be 0). `--calls` also rolls out one more shard of new tasks once, counting its Python and
C function calls (sys.setprofile): a figure the machine's load does not move. Whole-build figures stay with
build_offline.py.
"""

from __future__ import annotations

import cProfile
import gc
import random
import sys
import time

from compose_stage import count_calls, shard_worlds, stage_arguments


def main() -> int:
    args = stage_arguments(__doc__, "shards", calls=True)

    from agentfab.flows.shard import derive_seed
    from agentfab.flows.stages import Compose, OracleRollOut, TemplatePhrase

    recipe, job, worlds = shard_worlds(args.recipe, args.records)
    gc.disable()  # as a shard runs (flows.shard.fewer_collections)
    shards = []
    for shard in range(args.reps + 1 + args.calls):
        rng = random.Random(derive_seed(recipe.seed, shard))
        compose, phrase = Compose(recipe, worlds, rng), TemplatePhrase(recipe, worlds, rng)
        drafts = [compose(k, job.task_id(recipe.name, k)) for k in range(recipe.records)]
        shards.append([(draft, phrase(draft)) for draft in drafts if draft.raised is None])
    profile = cProfile.Profile() if args.profile else None
    times, differ = [], 0
    for shard, tasks in enumerate(shards[:args.reps + 1]):
        roll_rng = random.Random(derive_seed(derive_seed(recipe.seed, shard), "rollouts"))
        roll_out = OracleRollOut(roll_rng)
        spent = 0.0
        for draft, task in tasks:
            before = roll_rng.getstate()
            if profile is not None and shard:
                profile.enable()
            t0 = time.process_time()
            content = roll_out(draft, task)
            spent += time.process_time() - t0
            if profile is not None:
                profile.disable()
            after = roll_rng.getstate()
            roll_rng.setstate(before)
            differ += roll_out(draft, task) != content
            roll_rng.setstate(after)
        times.append(1e6 * spent / len(tasks))
    calls = 0
    if args.calls:  # the extra shard's tasks, new to the process like those timed
        roll_out = OracleRollOut(random.Random(derive_seed(derive_seed(recipe.seed, len(shards) - 1), "rollouts")))
        calls = sum(count_calls(lambda: roll_out(draft, task)) for draft, task in shards[-1])
    gc.enable()
    print(f"{args.recipe}, {args.records} tasks a shard: rollout of the warm-up shard {times[0]:,.1f} us/task CPU; "
          f"of each later shard (fastest of {args.reps}) {min(times[1:]):,.1f} us/task "
          f"(all: {', '.join(f'{t:.1f}' for t in times[1:])}); re-runs that differ: {differ}")
    if args.calls:
        print(f"function calls per task (Python and C) of one more shard: {calls / len(shards[-1]):,.1f}")
    if profile is not None:
        profile.dump_stats(str(args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
