"""Steady-state CPU of the compose and phrase stages, measured so that a loaded machine moves it little.

    python benchmarks/compose_stage.py                        # benchmark recipe, 2,000 tasks, min of 5 runs
    python benchmarks/compose_stage.py --recipe quickstart --records 1500 --reps 7
    python benchmarks/compose_stage.py --profile out.prof     # cProfile the timed runs
    python benchmarks/compose_stage.py --calls                # + function calls per task (load-independent)

One shard of the recipe is composed and phrased once (seeding the world variants and filling every cache, as the
first tasks of a worker do), recording the shared random stream's state before each stage of each task. Each stage
is then run again on every task from its recorded state, `--reps` times; the figure is the fastest run's
time.process_time per task, which other processes on the machine slow far less than the wall clock or a single
run. A re-run must give the same plan and the same task: the count of those that did not is printed (it must be 0).
The whole-build figures stay with build_offline.py; this one isolates the two stages a speed change there touches,
and splits them by task kind (the kind a task ended as, after any fallback). `--calls` also counts the Python and
C function calls of one more run of each stage (sys.setprofile): a figure the machine's load does not move, to
compare two versions of the code when the timings are too noisy to.

The steady state re-runs tasks the caches have met, so a memo keyed by what a task draws (a chain head's answer,
its links) hits every time there, and less often in a build. `--fresh` measures tasks met for the first time
instead: after a warm-up of `--records` tasks, the next `--records` are composed and phrased once each (timed, or
with `--calls` counted): the figure to judge such a memo by.

    python benchmarks/compose_stage.py --fresh --calls      # calls per task of 2,000 tasks after 2,000 warm ones
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import gc
import random
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BENCH = ("name: bench\nseed: 1\nrecords: {records}\nshard_size: {records}\n"
         "worlds: [bank, shop, travel, calendar, library]\nnegatives: 0.1\nrollouts: {{agent: oracle, recovery: 0.1}}\n")


def shard_worlds(name: str, records: int) -> tuple[Any, Any, list[Any]]:
    """(recipe, job of shard 0, its worlds) of one shard of `records` tasks of the bench or quickstart recipe (also
    used by rollout_stage.py)."""
    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.shard import ShardJob, derive_seed, expand_worlds
    from agentfab.flows.stages import ShardWorld, variants_per_world

    if name == "bench":
        data, recipe_dir = yaml.safe_load(BENCH.format(records=records)), ROOT
    else:
        data, recipe_dir = yaml.safe_load((ROOT / "data/recipes/quickstart.yaml").read_text()), ROOT / "data/recipes"
        data.update(records=records, shard_size=records)
    recipe = parse_recipe(data)
    job = ShardJob(recipe.canonical(), recipe.hash(), str(recipe_dir), "", 0)
    domains = expand_worlds(recipe.worlds, recipe_dir)
    worlds = [ShardWorld(label, domain, derive_seed(recipe.seed, label), recipe, variants_per_world(len(domains)))
              for label, domain in domains]
    return recipe, job, worlds


def stage_arguments(doc: str | None, timed: str, calls: bool = False) -> argparse.Namespace:
    """The options of a one-stage benchmark (this one and rollout_stage.py); `timed` names what is timed."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", choices=("bench", "quickstart"), default="bench")
    ap.add_argument("--records", type=int, default=2000, help="tasks (one shard)")
    ap.add_argument("--reps", type=int, default=5, help=f"timed {timed}; the fastest counts")
    ap.add_argument("--profile", type=Path, help=f"write a cProfile of the timed {timed} to this file")
    if calls:
        ap.add_argument("--calls", action="store_true", help="also count function calls per task in one more run")
    if calls:
        ap.add_argument("--fresh", action="store_true", help="measure tasks met for the first time (see above)")
    return ap.parse_args()


def count_calls(run: Any) -> int:
    """The Python and C function calls `run()` makes (deterministic: the same code and state make the same calls)."""
    count = [0]

    def seen(frame: Any, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            count[0] += 1

    sys.setprofile(seen)
    try:
        run()
    finally:
        sys.setprofile(None)
    return count[0]


def main() -> int:
    args = stage_arguments(__doc__, "runs of each stage", calls=True)
    if args.fresh:
        return fresh(args)

    from agentfab.flows.shard import derive_seed
    from agentfab.flows.stages import Compose, TemplatePhrase

    recipe, job, worlds = shard_worlds(args.recipe, args.records)
    rng = random.Random(derive_seed(recipe.seed, 0))
    compose, phrase = Compose(recipe, worlds, rng), TemplatePhrase(recipe, worlds, rng)
    gc.disable()  # as a shard runs (flows.shard.fewer_collections)
    recorded = []
    t0 = time.process_time()
    for k in range(recipe.records):
        before_compose = rng.getstate()
        draft = compose(k, job.task_id(recipe.name, k))
        before_phrase = rng.getstate()
        task = phrase(draft) if draft.raised is None else None
        recorded.append((k, before_compose, before_phrase, draft, task))
    first = time.process_time() - t0
    profile = cProfile.Profile() if args.profile else None
    best_compose = best_phrase = float("inf")
    by_kind: dict[str, tuple[float, float]] = {}  # kind -> (compose, phrase) seconds of the fastest run
    differ = 0
    for _ in range(args.reps):
        spent_compose = spent_phrase = 0.0
        kinds: collections.Counter[str] = collections.Counter()
        phrased_kinds: collections.Counter[str] = collections.Counter()
        for k, before_compose, before_phrase, draft, task in recorded:
            rng.setstate(before_compose)
            if profile is not None:
                profile.enable()
            t0 = time.process_time()
            again = compose(k, job.task_id(recipe.name, k))
            spent = time.process_time() - t0
            spent_compose += spent
            kinds[draft.kind] += spent
            if task is not None:
                rng.setstate(before_phrase)
                t0 = time.process_time()
                phrased = phrase(draft)
                spent = time.process_time() - t0
                spent_phrase += spent
                phrased_kinds[draft.kind] += spent
                differ += phrased != task
            if profile is not None:
                profile.disable()
            differ += (again.plan is None) != (draft.plan is None) or (
                again.plan is not None and again.plan.results != draft.plan.results)
        best_compose, best_phrase = min(best_compose, spent_compose), min(best_phrase, spent_phrase)
        for kind in kinds:
            by_kind[kind] = min(by_kind.get(kind, (float("inf"),) * 2), (kinds[kind], phrased_kinds[kind]), key=sum)
    calls = None
    if args.calls:
        calls = [0, 0]
        for k, before_compose, before_phrase, draft, task in recorded:
            rng.setstate(before_compose)
            calls[0] += count_calls(lambda: compose(k, job.task_id(recipe.name, k)))
            if task is not None:
                rng.setstate(before_phrase)
                calls[1] += count_calls(lambda: phrase(draft))
    gc.enable()
    n = recipe.records
    print(f"{args.recipe}, {n} tasks: first pass (seeding, caches) {1e6 * first / n:,.0f} us/task CPU; steady state "
          f"(fastest of {args.reps}): compose {1e6 * best_compose / n:,.1f} us/task, phrase {1e6 * best_phrase / n:,.1f} "
          f"us/task; re-runs that differ: {differ}")
    count = collections.Counter(draft.kind for _, _, _, draft, _ in recorded)
    print("by kind (compose / phrase us/task, tasks):", ", ".join(
        f"{kind} {1e6 * c / count[kind]:,.0f} / {1e6 * p / count[kind]:,.0f} ({count[kind]})"
        for kind, (c, p) in sorted(by_kind.items())))
    if calls is not None:
        print(f"function calls per task (Python and C, one run): compose {calls[0] / n:,.1f}, phrase {calls[1] / n:,.1f}")
    if profile is not None:
        profile.dump_stats(str(args.profile))
    return 0


def fresh(args: argparse.Namespace) -> int:
    """`--fresh`: each stage's CPU (or with `--calls`, its function calls) per task on tasks met for the first time,
    after a warm-up of as many."""
    from agentfab.flows.shard import derive_seed
    from agentfab.flows.stages import Compose, TemplatePhrase

    recipe, job, worlds = shard_worlds(args.recipe, 2 * args.records)
    rng = random.Random(derive_seed(recipe.seed, 0))
    compose, phrase = Compose(recipe, worlds, rng), TemplatePhrase(recipe, worlds, rng)
    gc.disable()
    for k in range(args.records):  # warm-up: seeding, catalogs, what the first tasks meet
        draft = compose(k, job.task_id(recipe.name, k))
        if draft.raised is None:
            phrase(draft)
    spent = [0.0, 0.0]
    clock = time.process_time
    for k in range(args.records, 2 * args.records):
        task_id = job.task_id(recipe.name, k)
        if args.calls:
            found: list[Any] = []
            spent[0] += count_calls(lambda: found.append(compose(k, task_id)))
            if found[0].raised is None:
                spent[1] += count_calls(lambda: phrase(found[0]))
            continue
        t0 = clock()
        draft = compose(k, task_id)
        t1 = clock()
        if draft.raised is None:
            phrase(draft)
        spent[0] += t1 - t0
        spent[1] += clock() - t1
    gc.enable()
    n = args.records
    what = "function calls" if args.calls else "us CPU"
    scale = 1 if args.calls else 1e6
    print(f"{args.recipe}, {n} tasks met first after {n} warm ones, {what} per task: compose "
          f"{scale * spent[0] / n:,.1f}, phrase {scale * spent[1] / n:,.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
