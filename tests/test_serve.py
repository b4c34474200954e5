"""`agentfab serve` on a real Prefect server: the schedule is registered, a triggered run adds a version without
duplicates, `agentfab versions` shows its lineage, and stopping serve stops the server it started."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from agentfab.flows.build import build
from agentfab.flows.lineage import version_seed
from agentfab.flows.serve import free_port, healthy

RECIPE = "name: nightly\nseed: 9\nrecords: 60\nshard_size: 30\nworlds: [bank, library]\n"


def _wait(predicate, seconds: float, what: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, f"agentfab serve exited: {log.read_text()[-3000:]}"
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-3000:]}")


async def _registered_then_triggered(api: str) -> tuple[str, str]:
    """The deployment's schedule, read back from the server; then a run of it, as `prefect deployment run` does."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}):
        async with get_client() as client:
            # serve announces itself once the deployment is registered: it is there at once
            deployment = await client.read_deployment_by_name("agentfab-scheduled-build/nightly")
            schedule = deployment.schedules[0].schedule
            await client.create_flow_run_from_deployment(deployment.id)
    return schedule.cron, schedule.timezone


def _lineage(out: Path) -> list[dict]:
    try:
        return json.loads((out / "manifest.json").read_text())["lineage"]
    except (OSError, ValueError, KeyError):
        return []


def test_a_triggered_scheduled_run_adds_a_version_on_a_real_prefect_server(prefect_harness, tmp_path: Path):
    recipe = tmp_path / "nightly.yaml"
    recipe.write_text(RECIPE)
    out = tmp_path / "ds"
    build(recipe, out=out, workers=1)  # version 1, as yesterday's run left it
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    # a server of its own, with its database kept between test sessions (the first start pays the migration)
    home = Path(__file__).resolve().parents[1] / ".cache" / "prefect-serve-tests"
    env.update(PREFECT_HOME=str(home), PREFECT_RUNNER_POLL_FREQUENCY="1")
    log = tmp_path / "serve.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "agentfab", "serve", str(recipe), "--cron", "0 3 * * *",
                                 "--out", str(out), "--port", str(port)], env=env, stdout=sink,
                                stderr=subprocess.STDOUT, cwd=tmp_path)
    server_pid = None
    try:
        _wait(lambda: "serving agentfab-scheduled-build/nightly" in log.read_text(), 240, "the deployment", proc, log)
        said = log.read_text()
        assert "started a local Prefect server (pid " in said and f"API {api}, UI http://127.0.0.1:{port}" in said
        server_pid = int(re.search(r"pid (\d+)", said).group(1))
        assert healthy(api)
        assert asyncio.run(_registered_then_triggered(api)) == ("0 3 * * *", "UTC")
        _wait(lambda: len(_lineage(out)) == 2, 240, "version 2", proc, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if server_pid is not None:
            time.sleep(1)
            try:
                os.killpg(server_pid, signal.SIGKILL)  # only if serve failed to stop its server
                stopped = False
            except ProcessLookupError:
                stopped = True
            assert stopped, "agentfab serve left its Prefect server running"
    v1, v2 = _lineage(out)
    assert (v2["version"], v2["parent"], v2["seed"]) == (2, 1, version_seed(9, 2))
    rows = pl.read_parquet(out / "shards" / "*.parquet")
    assert rows["id"].is_unique().all() and rows["verification"].struct.field("dedup_key").is_unique().all()
    assert rows.height == v1["rows"]["accepted"] + v2["rows"]["accepted"]
    listing = subprocess.run([sys.executable, "-m", "agentfab", "versions", str(out)], capture_output=True,
                             text=True, timeout=60)
    assert listing.stdout.splitlines()[2].split()[:4] == ["2", "1", str(v2["seed"]), "2"]
    assert not healthy(api, timeout=1)
