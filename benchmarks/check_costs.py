"""Where the validate and negatives stages spend their CPU time, check by check, on the records of one shard.

    python benchmarks/check_costs.py                  # 2,000 tasks of the benchmark recipe (build_offline.py's)
    python benchmarks/check_costs.py --records 4000 --repeat 9

Builds one shard in this process, keeps every record the verify stage saw, then runs each check again over all of
them and prints its CPU time per record (time.process_time, the best of --repeat runs, the collector off as in a
shard build), so the figures hold on a loaded machine. The checks share one `Reading` per record, as the stages do;
the ValueBank runs over the accepted records in row order. The negatives stage is also timed by piece (each piece's
own time: a timed piece inside another is taken out of the outer one's). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import yaml

RECIPE = ("name: bench\nseed: 1\nrecords: {records}\nshard_size: {records}\n"
          "worlds: [bank, shop, travel, calendar, library]\nnegatives: 0.1\nrollouts: {{agent: oracle, recovery: 0.1}}\n")


def shard_records(records: int) -> list[Any]:
    """The records (task, events, world) the verify stage of one shard of `records` tasks saw, in row order."""
    import agentfab.flows.shard as shard
    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.stages import Record

    seen: list[Any] = []
    verify_stage = shard.verify_stage

    def keep(record: Any) -> None:
        verify_stage(record)
        seen.append(Record(record.draft, record.task, record.content))

    recipe = parse_recipe(yaml.safe_load(RECIPE.format(records=records)))
    tmp = Path(tempfile.mkdtemp(prefix="agentfab-check-costs-"))
    shard.verify_stage = keep
    try:
        shard.build_shard(shard.ShardJob(recipe.canonical(), recipe.hash(), str(tmp), str(tmp / "out"), 0))
    finally:
        shard.verify_stage = verify_stage
        shutil.rmtree(tmp, ignore_errors=True)
    return seen


def negatives_by_piece(run: Callable[[Any], None], repeat: int) -> dict[str, float]:
    """The negatives stage's CPU seconds by piece, each the best of `repeat` runs of `run(stage)`: the bank's observe,
    its vocabulary cut and `unseen`, each perturbation, and checking and writing each negative; `rest` is the
    stage's own code, what no piece covers and the timers' own cost (two clock reads a timed call). The pieces are
    timed by wrapping the functions the stage calls."""
    import agentfab.flows.stages as stages
    import agentfab.generators.negatives as negatives
    from agentfab.generators.value_bank import ValueBank

    def wrapped(name: str, f: Callable[..., Any], spent: dict[str, float], inner: list[float]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            inner.append(0.0)
            t0 = time.process_time()
            try:
                return f(*args, **kwargs)
            finally:
                took = time.process_time() - t0
                spent[name] = spent.get(name, 0.0) + took - inner.pop()
                if inner:
                    inner[-1] += took
        return timed

    kept = (ValueBank.observe, ValueBank.unseen, ValueBank.vocab, dict(negatives.PERTURBATIONS), stages.verify_stage,
            stages.dataset_row, stages.exact_key)
    found: dict[str, float] = {}
    for _ in range(repeat):
        spent: dict[str, float] = {}
        inner: list[float] = []
        ValueBank.observe = wrapped("bank: observe", kept[0], spent, inner)  # type: ignore[method-assign]
        ValueBank.unseen = wrapped("bank: unseen (own)", kept[1], spent, inner)  # type: ignore[method-assign]
        ValueBank.vocab = property(wrapped("bank: vocabulary cut", kept[2].fget, spent, inner))  # type: ignore
        negatives.PERTURBATIONS.update({k: wrapped(f"make: {k}", f, spent, inner) for k, f in kept[3].items()})
        stages.verify_stage = wrapped("check: verify", kept[4], spent, inner)
        stages.dataset_row = wrapped("write: dataset_row", kept[5], spent, inner)
        stages.exact_key = wrapped("write: exact_key", kept[6], spent, inner)
        try:
            t0 = time.process_time()
            run(lambda stage: setattr(stage, "judge", wrapped("check: judge", stage.judge, spent, inner)))
            spent["rest"] = time.process_time() - t0 - sum(spent.values())
        finally:
            ValueBank.observe, ValueBank.unseen, ValueBank.vocab = kept[:3]  # type: ignore[method-assign]
            negatives.PERTURBATIONS.update(kept[3])
            stages.verify_stage, stages.dataset_row, stages.exact_key = kept[4:]
        for name, took in spent.items():
            found[name] = min(found.get(name, took), took)
    return found


def best(run: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        run()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=2000, help="tasks of the shard (default 2,000)")
    ap.add_argument("--repeat", type=int, default=7, help="runs of each check; the best counts (default 7)")
    args = ap.parse_args()

    from agentfab.flows.prefect_env import configure

    configure()
    from agentfab.flows.stages import DedupStage, JudgeStage, Negatives, Record, ShardRows, verify_stage
    from agentfab.generators.value_bank import ValueBank
    from agentfab.validators import language, replay, structure
    from agentfab.validators.dedup import Deduper, exact_key
    from agentfab.validators.judge import RuleJudge
    from agentfab.validators.reading import Reading

    records = shard_records(args.records)
    n = len(records)
    gc.disable()  # as a shard runs (flows.shard.fewer_collections(0))
    offered = [r.offered for r in records]
    readings = [Reading(r.content) for r in records]
    replays = []
    for r, tools, read in zip(records, offered, readings):
        replays.append(replay.replay(r.content, tools, r.draft.world.store, replay.expected_errors(r.task), read))
        replay.truth(r.task, r.content, replays[-1], read)
    rows = list(zip(records, offered, readings, replays))
    judge = RuleJudge()
    checks: dict[str, Callable[[], None]] = {
        "check_events": lambda: [structure.check_events(r.content) for r, *_ in rows],
        "check_calls": lambda: [structure.check_calls(r.content, tools, read.call_keys)
                                for r, tools, read, _ in rows],
        "replay (fresh world)": lambda: [replay.replay(r.content, tools, r.draft.world.store,
                                                       replay.expected_errors(r.task), read)
                                         for r, tools, read, _ in rows],
        "  of which tools run": lambda: [[tools[r.content[i]["function"]].invoke(r.draft.world.store.fork(),
                                                                                 r.content[i]["kwargs"],
                                                                                 read.call_keys[i])
                                          for i in read.calls] for r, tools, read, _ in rows],
        "truth": lambda: [replay.truth(r.task, r.content, rep, read) for r, _, read, rep in rows],
        "check_rules": lambda: [replay.check_rules(r.task, rep) for r, *_, rep in rows],
        "check_language": lambda: [language.check_language(r.content, tools, read) for r, tools, read, _ in rows],
        "judge (rules)": lambda: [judge.judge(r.task, r.content, read) for r, _, read, _ in rows],
        "exact_key": lambda: [exact_key(r.task, r.content, read) for r, _, read, _ in rows],
    }

    def validate_stage() -> None:
        judged, dedup = JudgeStage(judge, 0.0), DedupStage(Deduper(0.9))
        for r in records:
            record = Record(r.draft, r.task, r.content)
            verify_stage(record)
            judged(record)
            dedup(record)

    def dedup_check() -> None:
        deduper = Deduper(0.9)
        for r in records:
            deduper.check(r.task, r.content)

    judged, deduped = JudgeStage(judge, 0.0), DedupStage(Deduper(0.9))
    verified = []
    for r in records:  # the rows as the negatives stage gets them: verified, judged and deduplicated
        record = Record(r.draft, r.task, r.content)
        verify_stage(record)
        judged(record)
        deduped(record)
        verified.append(record)
    accepted = [(r.content, r.reading.call_keys) for r in verified if r.verdict.passed]

    def observe() -> None:  # as the stage does: every accepted row read, its vocabulary asked for every tenth
        bank = ValueBank()
        for k, (content, keys) in enumerate(accepted):
            bank.observe(content, keys)
            if k % 10 == 9:
                _ = bank.vocab

    def negatives_stage(prepare: Callable[[Any], None] = lambda stage: None) -> None:
        import random

        stage, out = Negatives(0.1, judged, random.Random(11)), ShardRows()
        prepare(stage)
        provenance = {"recipe_name": "bench", "recipe_hash": "", "seed": 1, "shard": 0, "world_seed": 0,
                      "world_offset": 0, "world": "", "engine": "offline", "models": "{}", "negative": None}
        for record in verified:
            stage(record, provenance, out)
        stage.finish()

    print(f"{n:,} records of a {args.records:,}-task shard ({len(accepted):,} accepted); CPU us per record, best of "
          f"{args.repeat} (a loaded machine inflates every figure alike)")
    whole = best(validate_stage, args.repeat)
    print(f"validate stage (verify + judge + dedup, one Reading per record): {1e6 * whole / n:7.1f}")
    for name, run in checks.items():
        print(f"  {name:<22} {1e6 * best(run, args.repeat) / n:7.1f}")
    print(f"  {'dedup (+ exact_key)':<22} {1e6 * best(dedup_check, args.repeat) / n:7.1f}")
    print(f"negatives stage (share 0.1): {1e6 * best(negatives_stage, args.repeat) / n:7.1f}")
    for name, took in sorted(negatives_by_piece(negatives_stage, args.repeat).items(), key=lambda kv: -kv[1]):
        print(f"  {name:<30} {1e6 * took / n:7.1f}")
    print(f"ValueBank alone: {1e6 * best(observe, args.repeat) / n:7.1f}  (observe every accepted row, vocab every "
          "tenth)")


if __name__ == "__main__":
    main()
