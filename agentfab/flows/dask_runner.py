"""Shards on a Dask cluster: the plain shard function goes to Dask; the flow's Prefect task runs wait for it.

Why not Prefect tasks through `prefect-dask`: every Dask worker would then run Prefect's task engine and, with no
server configured, start its own temporary Prefect server against one SQLite file (reference/prefect.md §5;
measured in benchmarks/build_scale.py --compare-dask). Here Prefect stays on the driver (task runs,
retries and state there) and a worker only runs `build_shard`, which needs nothing but the shared output folder.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any, Callable

from agentfab.flows.runners import RunnerError, ShardRunner, build_shard_outcome
from agentfab.flows.shard import ShardJob


class DaskRunner(ShardRunner):
    """`address`: a running scheduler (tcp://HOST:8786); without one, a LocalCluster of `workers` processes."""

    name = "dask"

    def __init__(self, address: str | None = None, workers: int = 2, connect_timeout: float = 10):
        super().__init__()
        self.connect_timeout = connect_timeout
        self.address = address
        self.workers = max(1, workers)
        self.client: Any = None
        self.cluster: Any = None

    def open(self, n_jobs: int, warm: Callable[[], None] | None = None) -> None:  # workers are not forked from here
        if self.client is not None:
            return
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise RunnerError("--runner dask needs Dask: pip install 'agentfab[dask]'") from exc
        for name in ("distributed", "dask"):  # its INFO lines (one per worker start and stop) drown the progress bar
            logging.getLogger(name).setLevel(logging.WARNING)
        if self.address:
            try:
                self.client = Client(self.address, timeout=self.connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise RunnerError(f"no Dask scheduler answers at {self.address} ({exc}); start one with "
                                      "`dask scheduler` or leave out --address for a local cluster") from exc
            return
        self.cluster = LocalCluster(n_workers=min(self.workers, max(1, n_jobs)), threads_per_worker=1,
                                    processes=True, dashboard_address=None, silence_logs=40)
        self.client = Client(self.cluster)

    @property
    def concurrent(self) -> bool:
        return True

    def submit(self, job: ShardJob) -> Future:
        if self.client is None:
            self.open(1)
        # pure=False: a retry must run again, not return the failed key's cached result
        remote = self.client.submit(build_shard_outcome, job, pure=False, key=f"shard-{job.shard:05d}-{id(job):x}")
        future: Future = Future()

        def settle(done: Any) -> None:
            try:
                future.set_result(done.result())
            except BaseException as exc:  # noqa: BLE001 - the shard's own error travels to the awaiting task
                future.set_exception(exc)

        remote.add_done_callback(settle)
        future.dask_future = remote  # type: ignore[attr-defined]  # kept alive until settled
        return future

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def describe(self) -> str:
        if self.client is None:
            return "dask"
        where = self.address or "LocalCluster"
        return f"dask ({where}, {len(self.client.scheduler_info().get('workers', {}))} workers)"
