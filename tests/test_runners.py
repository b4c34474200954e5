"""Where shards run never changes what they contain: a Dask LocalCluster and one process give the same rows."""

from __future__ import annotations

import gc
from pathlib import Path

import polars as pl
import pytest

from agentfab.flows.build import build
from agentfab.flows.runners import ProcessRunner, RunnerError, make_runner

RECIPE = "name: runners\nseed: 13\nrecords: 120\nshard_size: 40\nworlds: [bank, shop, library]\nnegatives: 0.2\n"


def _rows(out: Path, split: str) -> pl.DataFrame:
    return pl.read_parquet(out / split / "*.parquet").sort("id")


def test_a_dask_local_cluster_and_one_process_build_identical_rows(prefect_harness, tmp_path: Path):
    pytest.importorskip("distributed")
    from agentfab.flows.dask_runner import DaskRunner

    recipe = tmp_path / "runners.yaml"
    recipe.write_text(RECIPE)
    with ProcessRunner(1) as one:
        single = build(recipe, out=tmp_path / "process", runner=one)
    with DaskRunner(workers=2) as dask:
        spread = build(recipe, out=tmp_path / "dask", runner=dask)
        assert dask.describe() == "dask (LocalCluster, 2 workers)"
    assert spread["timings"]["runner"].startswith("dask")
    assert single["rows"] == spread["rows"] and single["rows"]["accepted"] > 0
    for split in ("shards", "rejected"):
        a, b = _rows(tmp_path / "process", split), _rows(tmp_path / "dask", split)
        assert a.height > 0 and a.equals(b), split
    assert dask.client is None and dask.cluster is None  # closed: no worker process outlives the build


_WARMED: list[str] = []


def _warmed() -> list[str]:
    return list(_WARMED)


def _frozen() -> int:
    return gc.get_freeze_count()


def test_forked_workers_start_with_what_the_driver_warmed_and_no_one_warms_for_workers_it_does_not_fork():
    warmings: list[str] = []

    def warm() -> None:
        warmings.append("called")
        _WARMED.append("a cache filled in the driver")

    with ProcessRunner(2, "fork") as runner:
        runner.open(2, warm)
        assert warmings == ["called"]
        assert {tuple(f.result()) for f in [runner.pool.submit(_warmed) for _ in range(4)]} == {
            ("a cache filled in the driver",)}  # every worker has it without warming itself
        # what the driver held when it forked is frozen in each worker (its collections never copy those pages)
        assert runner.pool.submit(_frozen).result() > 1000 and gc.get_freeze_count() == 0
    _WARMED.clear()
    with ProcessRunner(2, "spawn") as spawned, ProcessRunner(1) as in_process:
        spawned.open(2, warm)  # a spawned worker inherits nothing: warming the driver would be wasted
        in_process.open(1, warm)  # the first shard warms the one process anyway
    assert warmings == ["called"]


def test_an_unknown_runner_or_a_stray_address_is_refused():
    with pytest.raises(ValueError, match="choose one of process, dask"):
        make_runner("ray")
    with pytest.raises(ValueError, match="--address goes with --runner dask"):
        make_runner("process", address="tcp://127.0.0.1:8786")


def test_an_unreachable_scheduler_is_one_clear_error():
    pytest.importorskip("distributed")
    from agentfab.flows.dask_runner import DaskRunner

    assert isinstance(make_runner("dask", address="tcp://127.0.0.1:9"), DaskRunner)
    runner = DaskRunner(address="tcp://127.0.0.1:9", connect_timeout=1)
    with pytest.raises(RunnerError, match="no Dask scheduler answers at tcp://127.0.0.1:9"):
        runner.open(1)
