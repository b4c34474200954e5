"""What Prefect sees of a build: one flow run whose task runs each wait for a batch of consecutive shards (so
Prefect's bookkeeping stays bounded however many shards there are), a retry that rebuilds only the shard that
failed, and `agentfab build` running its own temporary server, whose run is recorded with every task run's state."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import Future
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentfab.flows.build import build
from agentfab.flows.runners import ProcessRunner
from agentfab.flows.shard import ShardJob
from agentfab.flows.shard_tasks import SHARD_TASKS, shard_batches

ROOT = Path(__file__).resolve().parents[1]
RECIPE = "name: batches\nseed: 5\nrecords: 40\nshard_size: 2\nworlds: [bank, shop]\n"  # 20 shards


@given(st.integers(0, 400), st.integers(1, 40))
def test_shards_are_cut_into_at_most_the_allowed_runs_of_consecutive_shards(n, most):
    jobs = list(range(n))
    batches = shard_batches(jobs, most)  # type: ignore[arg-type]
    assert [j for batch in batches for j in batch] == jobs  # every shard once, in order
    assert len(batches) <= most and all(batches)
    if batches:
        sizes = {len(b) for b in batches}
        assert max(sizes) - min(sizes) <= 1
        assert max(sizes) == -(-n // most)  # no more task runs than runs of that size need
    assert len(shard_batches(jobs, n + 1)) == n  # negative control: few shards keep one task run each


class FailingRunner(ProcessRunner):
    """In-process shards, except that shard `shard` fails its first `times` submissions (a lost worker)."""

    def __init__(self, shard: int, times: int):
        super().__init__(1)
        self.shard, self.times = shard, times
        self.submitted: Counter[int] = Counter()

    def submit(self, job: ShardJob) -> Future:
        self.submitted[job.shard] += 1
        if job.shard == self.shard and self.submitted[job.shard] <= self.times:
            future: Future = Future()
            future.set_exception(RuntimeError(f"worker lost while building shard {job.shard}"))
            return future
        return super().submit(job)


async def _task_runs(wanted: int) -> tuple[str, dict[str, str]]:
    """The latest agentfab-build flow run's state and its task runs' states by name, once `wanted` are recorded
    and each is in a final state (the server records task runs from their events, a moment after they happen, so
    a task that has finished can still read as RUNNING just after the flow returns)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        deadline = time.monotonic() + 60
        while True:
            run = (await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["agentfab-build"])),
                                               sort=FlowRunSort.START_TIME_DESC, limit=1))[0]
            tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
            states = {t.name: t.state.type.value for t in tasks if t.state is not None}
            settled = all(t.state is not None and t.state.is_final() for t in tasks)
            if len(states) >= wanted and settled and run.state is not None and run.state.is_final() \
                    or time.monotonic() > deadline:
                return run.state.type.value if run.state else "", states
            await asyncio.sleep(0.5)


def test_a_build_is_one_flow_run_with_a_task_run_per_batch_of_shards(prefect_harness, tmp_path):
    recipe = tmp_path / "batches.yaml"
    recipe.write_text(RECIPE)
    manifest = build(recipe, out=tmp_path / "out", workers=2)
    assert manifest["shards"] == 20 and manifest["rows"]["accepted"] > 0
    flow_state, tasks = asyncio.run(_task_runs(11))
    assert flow_state == "COMPLETED"
    assert tasks == {**{f"shards {i}-{i + 1} (2)": "COMPLETED" for i in range(0, 20, 2)}, **{
        name: "COMPLETED" for name in tasks if name.startswith("finalize")}}
    assert len(tasks) == 11 <= SHARD_TASKS + 1


def test_a_failed_shard_is_retried_alone_and_gives_the_rows_of_a_clean_build(prefect_harness, tmp_path):
    recipe = tmp_path / "batches.yaml"
    recipe.write_text(RECIPE)
    runner = FailingRunner(shard=3, times=1)
    retried = build(recipe, out=tmp_path / "retried", runner=runner)
    assert runner.submitted[3] == 2 and runner.submitted[2] == 1  # its batch (shards 2-3) rebuilt shard 3 alone
    assert set(runner.submitted.values()) <= {1, 2} and sum(runner.submitted.values()) == 21
    with ProcessRunner(1) as clean_runner:
        clean = build(recipe, out=tmp_path / "clean", runner=clean_runner)
    assert retried["rows"] == clean["rows"]
    for split in ("shards", "rejected"):
        for path in sorted((tmp_path / "clean" / split).glob("*.parquet")):
            assert (tmp_path / "retried" / split / path.name).read_bytes() == path.read_bytes(), path.name


def test_a_shard_that_keeps_failing_fails_the_build_after_the_rest_of_its_batch_is_in(prefect_harness, tmp_path):
    recipe = tmp_path / "batches.yaml"
    recipe.write_text(RECIPE)
    runner = FailingRunner(shard=2, times=99)
    with pytest.raises(RuntimeError, match="worker lost while building shard 2"):
        build(recipe, out=tmp_path / "out", runner=runner)
    assert runner.submitted[2] == 2  # the first attempt and one retry
    assert (tmp_path / "out" / "stats" / "shard-00003.json").is_file()  # its batch's other shard finished
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_each_build_reports_its_progress_to_the_runner_it_runs_on_and_to_no_other(prefect_harness, tmp_path):
    recipe = tmp_path / "batches.yaml"
    recipe.write_text(RECIPE)
    heard: dict[str, list[tuple[str, int | None]]] = {"pool": [], "in-process": []}
    for name, workers in (("pool", 2), ("in-process", 1)):  # shards launched early, and shards built by task runs
        with ProcessRunner(workers) as runner:
            runner.progress = lambda event, data, name=name: heard[name].append((event, data.get("shard")))
            build(recipe, out=tmp_path / name, runner=runner)
    for events in heard.values():
        assert events[0] == ("start", None) and events[-1] == ("finalize", None)
        done = [shard for event, shard in events if event == "shard_done"]
        assert sorted(done) == list(range(20))  # every shard once, heard by its own build's runner only
    for split in ("shards", "rejected"):  # workers forked from a warmed driver build the rows of one process
        for path in sorted((tmp_path / "in-process" / split).glob("*.parquet")):
            assert (tmp_path / "pool" / split / path.name).read_bytes() == path.read_bytes(), path.name
    (tmp_path / "pool" / "shards" / "shard-00004.parquet").write_bytes(b"damaged")
    resumed: list[tuple[str, int | None]] = []
    with ProcessRunner(1) as runner:
        runner.progress = lambda event, data: resumed.append((event, data.get("shard")))
        build(recipe, out=tmp_path / "pool", runner=runner)
    assert resumed == [("damaged", 4), ("start", None), ("shard_done", 4), ("finalize", None)]
    assert len(heard["in-process"]) == 22  # negative control: the resumed build's events reached no earlier runner


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentfab", *args], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def test_the_command_runs_its_own_server_and_its_run_is_recorded_with_every_task_run(tmp_path):
    recipe = tmp_path / "batches.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "out"
    done = _cli("build", str(recipe), "--out", str(out), "--workers", "2", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""  # the server's start and stop print nothing
    db = sqlite3.connect(Path(os.environ["PREFECT_HOME"]) / "prefect.db")  # the database the server wrote
    runs = [(rid, state) for rid, state, params in db.execute(
        "SELECT id, state_type, parameters FROM flow_run ORDER BY created DESC LIMIT 50") if str(out) in params]
    assert len(runs) == 1 and runs[0][1] == "COMPLETED"
    tasks = dict(db.execute("SELECT name, state_type FROM task_run WHERE flow_run_id = ?", (runs[0][0],)))
    assert len(tasks) == 11 and set(tasks.values()) == {"COMPLETED"}, tasks  # recorded before the server stopped
    assert {f"shards {i}-{i + 1} (2)" for i in range(0, 20, 2)} < set(tasks)
    assert json.loads((out / "manifest.json").read_text())["shards"] == 20


def test_a_server_that_cannot_start_is_one_error_line(tmp_path):
    recipe = tmp_path / "batches.yaml"
    recipe.write_text(RECIPE)
    broken = _cli("build", str(recipe), "--out", str(tmp_path / "out"), "--quiet",
                  env={"PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path}/missing/prefect.db"})
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1
    assert "temporary server exited with code" in broken.stderr and "PREFECT_API_URL" in broken.stderr


def test_a_server_that_does_not_answer_in_time_is_refused(monkeypatch):
    from agentfab.flows.lifeline import ServerStartError, TemporaryServer

    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "0")
    server = TemporaryServer()
    try:
        with pytest.raises(ServerStartError, match="did not answer within 0s; raise PREFECT_SERVER_EPHEMERAL"):
            server.wait()
    finally:
        server.stop()
    assert server.proc.poll() is not None and not server.ready
