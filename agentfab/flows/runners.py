"""Where shard functions run: in this process, in a local process pool, or on a Dask cluster.

A runner is handed to the build flow (never module state). The build starts every shard on it before Prefect's
server is up (that takes seconds); the flow's task runs (flows/shard_tasks.py) then wait for those futures, and a
retry submits the shard again. Every runner runs the same plain `build_shard(job)`, so the rows do not depend on the runner.
"""

from __future__ import annotations

import gc
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, Callable

from agentfab.flows.shard import ShardJob, build_shard

RUNNERS = ("process", "dask")
ProgressHook = Callable[[str, dict[str, Any]], None]


class RunnerError(RuntimeError):
    """A runner that cannot start (a missing package, no scheduler at the address); the message says what to do."""


def outcome(stats: dict[str, Any]) -> dict[str, Any]:
    """What the flow keeps of a shard's result: its number and row counts, or why it stopped. Its stats are on disk
    (finalize reads them there, one at a time); kept whole, 200 shards of a 1M-task build held ~15 MB."""
    return {k: stats[k] for k in ("shard", "rows", "fatal", "os_error") if k in stats}


def build_shard_outcome(job: ShardJob) -> dict[str, Any]:
    """`build_shard` in a worker, handing back only its `outcome`: the whole stats (tens of KB pickled) were
    unpickled in the driver, among the checks' short-lived objects, and held by their futures until their batch's
    task run ended, for a progress bar that reads one count of them."""
    return outcome(build_shard(job))


def _ready() -> bool:
    return True


def die_with_parent(sig: int = 9) -> None:
    """Linux: this process gets `sig` (SIGKILL) when its parent dies, so a killed build leaves no orphan writing
    (and `agentfab serve` no orphaned server: it asks for SIGTERM)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def start_method(method: str | None = None) -> str:
    """On Linux worker processes are forked before Prefect starts its threads, which is cheap and safe, needs no
    `if __name__ == "__main__"` guard in the caller's script and hands them this process's warm caches;
    elsewhere they are spawned."""
    return method or ("fork" if sys.platform.startswith("linux") else "spawn")


def start_pool(workers: int, method: str | None = None) -> ProcessPoolExecutor:
    """Worker processes for shard CPU work, started now (see `start_method`)."""
    method = start_method(method)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method), initializer=die_with_parent)
    if method == "fork":  # the driver's objects (modules, worlds, warm caches) to a generation no collection walks:
        gc.freeze()  # a worker's collections then never touch, and so never copy, the pages it shares with the driver
    try:
        for f in [pool.submit(_ready) for _ in range(workers)]:
            f.result()
    finally:
        if method == "fork":
            gc.unfreeze()  # the driver's own collections go on as before
    return pool


class ShardRunner:
    """Runs shard jobs and hands back one concurrent.futures.Future per shard.

    `launch` submits the jobs the build still needs (early, so they need not wait for Prefect); `future` returns
    that early future once, then submits afresh (a Prefect retry). `progress` (the CLI's progress bar) hears of
    the build's events through `report`: start, damaged, shard_done, machine_error, finalize.
    """

    name = "base"

    def __init__(self, progress: ProgressHook | None = None) -> None:
        self.progress = progress
        self._early: dict[tuple[str, int], Future] = {}

    # the part a concrete runner provides
    def open(self, n_jobs: int, warm: Callable[[], None] | None = None) -> None:
        """Start what the jobs need (a pool, a cluster client); `n_jobs` bounds how many workers are useful.
        `warm` fills this process's caches; a runner whose workers are forked from it calls it first, so that
        they start warm instead of each paying the first shard's set-up (flows/build.py `warm_caches`)."""

    def submit(self, job: ShardJob) -> Future:
        future: Future = Future()
        try:
            future.set_result(build_shard(job))
        except BaseException as exc:  # a failed shard is the future's error, as in a pool
            future.set_exception(exc)
        return future

    def close(self) -> None:
        """Stop workers; a close after a close does nothing."""

    def describe(self) -> str:
        return self.name

    @property
    def concurrent(self) -> bool:
        """True when submit returns before the shard is built (jobs run elsewhere)."""
        return False

    # shared behaviour
    def launch(self, jobs: list[ShardJob]) -> None:
        if not self.concurrent:
            return  # in-process: the flow runs each shard as its task runs, so pdb and tracebacks stay simple
        for job in jobs:
            future = self._early[(job.out, job.shard)] = self.submit(job)
            future.add_done_callback(self._heard)

    def future(self, job: ShardJob) -> tuple[Future, bool]:
        """The shard's future and whether its completion was already reported (an early launch)."""
        early = self._early.pop((job.out, job.shard), None)
        if early is not None:
            return early, True
        return self.submit(job), False

    def report(self, event: str, **data: Any) -> None:
        if self.progress is not None:
            self.progress(event, data)

    def _heard(self, future: Future) -> None:
        if not future.cancelled() and future.exception() is None:
            stats = future.result()
            self.report("shard_done", shard=stats["shard"], stats=stats)

    def __enter__(self) -> "ShardRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ProcessRunner(ShardRunner):
    """One machine: a process pool for `workers` > 1, else in-process (so pdb works). Today's default."""

    name = "process"

    def __init__(self, workers: int = 1, method: str | None = None):
        super().__init__()
        self.workers = max(1, workers)
        self.method = method
        self.pool: ProcessPoolExecutor | None = None

    def open(self, n_jobs: int, warm: Callable[[], None] | None = None) -> None:
        n = min(self.workers, n_jobs)
        if self.pool is None and n > 1:
            if warm is not None and start_method(self.method) == "fork":
                warm()
            self.pool = start_pool(n, self.method)

    @property
    def concurrent(self) -> bool:
        return self.pool is not None

    def submit(self, job: ShardJob) -> Future:
        if self.pool is None:
            return super().submit(job)
        return self.pool.submit(build_shard_outcome, job)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None

    def describe(self) -> str:
        return f"process ({self.pool._max_workers if self.pool else 1} workers)"  # noqa: SLF001


def make_runner(kind: str, *, workers: int = 1, address: str | None = None) -> ShardRunner:
    """The runner named on the command line; a ValueError names the choices."""
    if kind == "process":
        if address:
            raise ValueError("--address goes with --runner dask")
        return ProcessRunner(workers)
    if kind == "dask":
        from agentfab.flows.dask_runner import DaskRunner

        return DaskRunner(address=address, workers=workers)
    raise ValueError(f"unknown runner {kind!r}; choose one of {', '.join(RUNNERS)}")
