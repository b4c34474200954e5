"""The shards' Prefect task runs: consecutive shards share one task run, and the checks across shards follow them.

The shards themselves were launched on the runner before Prefect's server answered (flows/build.py); a task run
waits for its shards' futures, keeps each result as it arrives, and on a retry rebuilds only the shards that failed.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from agentfab.flows.crossshard import ShardChecks
from agentfab.flows.runners import ShardRunner, outcome
from agentfab.flows.shard import ShardJob
from agentfab.llm.errors import LLMError

# a full disk, a quota, a folder agentfab may not write: the machine's state, reported as one line, never retried
MACHINE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)

# At most this many Prefect task runs wait for a build's shards. Each task run costs Prefect's server ~15-20 ms of CPU
# (three state events to record) and its client a few: 200 shards as 200 tasks spent ~4 s on bookkeeping, the
# share of a 100k build the issue allows for Prefect in all. Consecutive shards share a task run named for them.
SHARD_TASKS = 16


class ShardBatch:
    """Consecutive shards that one Prefect task run waits for. Each shard's result is kept as it arrives, so the
    checks across shards need not wait for the whole batch, and a retry rebuilds only the shards that failed. (A
    plain class, not a dataclass: Prefect walks dataclass task parameters field by field.)"""

    def __init__(self, jobs: list[ShardJob]):
        self.jobs = jobs
        self.results: dict[int, dict[str, Any]] = {}
        loop = asyncio.get_running_loop()
        self.arrived: dict[int, asyncio.Future[dict[str, Any]]] = {job.shard: loop.create_future() for job in jobs}

    @property
    def name(self) -> str:
        first, last = self.jobs[0].shard, self.jobs[-1].shard
        return f"shard {first}" if len(self.jobs) == 1 else f"shards {first}-{last} ({len(self.jobs)})"

    def keep(self, shard: int, stats: dict[str, Any]) -> None:
        self.results[shard] = stats
        if not self.arrived[shard].done():
            self.arrived[shard].set_result(stats)

    async def wait(self, shard: int, task: "asyncio.Future[Any]") -> dict[str, Any]:
        """The shard's result as soon as it is in, or the batch's task run's error once its retries are spent."""
        await asyncio.wait([self.arrived[shard], task], return_when=asyncio.FIRST_COMPLETED)
        if not self.arrived[shard].done():
            task.result()  # raises the shard's error
        return self.arrived[shard].result()


def shard_batches(jobs: list[ShardJob], most: int = SHARD_TASKS) -> list[list[ShardJob]]:
    """`jobs` cut into at most `most` runs of consecutive shards, of as even sizes as the count allows."""
    groups = -(-len(jobs) // -(-len(jobs) // most)) if jobs else 0  # as few as runs of ceil(n / most) need
    cuts = [len(jobs) * k // groups for k in range(groups + 1)] if groups else []
    return [jobs[a:b] for a, b in zip(cuts, cuts[1:])]


@task(name="build-shards", task_run_name="{batch.name}", retries=1, retry_delay_seconds=1, cache_policy=NO_CACHE)
async def run_shards(batch: ShardBatch, runner: ShardRunner) -> list[dict[str, Any]]:
    """Wait for the batch's shards on their runner; a shard launched early was already reported when it finished.
    A shard that fails does not stop the others of its batch; the task run then fails with the first error."""
    todo = [job for job in batch.jobs if job.shard not in batch.results]
    submitted = {job.shard: runner.future(job) for job in todo} if runner.concurrent else {}
    failure: BaseException | None = None
    for job in todo:
        future, reported = submitted.get(job.shard) or runner.future(job)  # in-process: built here, in order
        try:
            stats = await _shard_result(future, runner)
        except Exception as exc:  # noqa: BLE001 - raised below, once the batch's other shards are in
            failure = failure or exc
            continue
        if not reported and "fatal" not in stats and "os_error" not in stats:
            runner.report("shard_done", shard=job.shard, stats=stats)
        batch.keep(job.shard, outcome(stats))
    if failure is not None:
        raise failure
    return [batch.results[job.shard] for job in batch.jobs]


async def _shard_result(future: Any, runner: ShardRunner) -> dict[str, Any]:
    try:
        return await asyncio.wrap_future(future)
    except LLMError as exc:
        if not exc.fatal:
            raise
        return {"fatal": [exc.code, str(exc)]}  # an endpoint that refuses or is down: no retry, no traceback
    except OSError as exc:
        if exc.errno not in MACHINE_ERRNOS:
            raise
        failed = [exc.errno, exc.strerror or str(exc), exc.filename]
        runner.report("machine_error", error=OSError(*failed))  # the CLI stops here, before Prefect's shutdown talks
        return {"os_error": failed}  # a full disk: likewise


async def build_and_check(jobs: list[ShardJob], n_shards: int, runner: ShardRunner, checks: ShardChecks
                          ) -> list[dict[str, Any]]:
    """The shards' task runs, and the checks across shards of each shard as soon as it and every earlier shard are
    done (in a thread, while later shards are still being built)."""
    batches = [ShardBatch(group) for group in shard_batches(jobs)]
    tasks = [asyncio.ensure_future(run_shards(batch, runner)) for batch in batches]
    waiting = {shard: (batch, t) for batch, t in zip(batches, tasks) for shard in batch.arrived}
    results: list[dict[str, Any]] = []
    # every check in one thread: in whichever thread of the loop's pool was free, they spread their allocations
    # over that many glibc arenas and mimalloc heaps, each keeping its own freed pages
    checking = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentfab-checks")
    loop = asyncio.get_running_loop()
    try:
        for i in range(n_shards):
            if i in waiting:
                batch, t = waiting[i]
                results.append(await batch.wait(i, t))
            if not any("os_error" in r or "fatal" in r for r in results):
                await loop.run_in_executor(checking, contextvars.copy_context().run, checks.run, i + 1)
        for t in tasks:
            await t  # every result is in; the task runs end
    except BaseException:
        for t in tasks:  # as asyncio.gather: the other task runs are not left unawaited
            t.cancel()
        raise
    finally:
        checking.shutdown(wait=False)
    return results
