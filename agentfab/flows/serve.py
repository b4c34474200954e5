"""Scheduled builds: each run adds a version to one dataset folder, on a real Prefect server.

Schedules never fire on Prefect's ephemeral server (reference/prefect.md §6), so `agentfab serve` uses the server
that PREFECT_API_URL names, or starts a local `prefect server` (its database under PREFECT_HOME) and stops it on
exit. The deployment's flow is `scheduled_build`; `prefect.yaml` declares the same flow for `prefect deploy`.
Version N's seed derives from the recipe seed and N (lineage.py), never from the clock of the run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from prefect import flow

from agentfab.flows.runners import die_with_parent

DEPLOYMENT_FLOW = "agentfab-scheduled-build"


@flow(name=DEPLOYMENT_FLOW, log_prints=False, validate_parameters=False)
async def scheduled_build(recipe: str, out: str | None = None, workers: int = 1) -> dict[str, Any]:
    """Add the next version to the dataset `out` (the first run builds version 1); returns its lineage entry."""
    from agentfab.flows.build import build

    manifest = build(recipe, out=out, workers=workers, extend=True)
    return manifest["lineage"][-1]


@dataclass
class Server:
    api_url: str
    started: subprocess.Popen | None  # None: a server someone else runs

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/").removesuffix("/api")

    def describe(self) -> str:
        how = f"started a local Prefect server (pid {self.started.pid})" if self.started else \
            "using the Prefect server of PREFECT_API_URL"
        return f"{how}: API {self.api_url}, UI {self.ui_url}"

    def stop(self) -> None:
        """Stop the server this process started (its whole process group: uvicorn and its services)."""
        if self.started is None or self.started.poll() is not None:
            return
        try:
            os.killpg(self.started.pid, signal.SIGTERM)
            self.started.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.started.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.started.wait(timeout=5)


class ServerError(RuntimeError):
    """No Prefect server could be found or started; the message says what to do."""


def interrupt_on_sigterm() -> None:
    """SIGTERM (a service manager, `kill`) stops serving like Ctrl-C, so the local server is stopped too."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as reply:  # noqa: S310
            return reply.status == 200
    except OSError:
        return False


def find_or_start_server(port: int | None = None, wait: float = 120.0, log: Path | None = None) -> Server:
    """The server of PREFECT_API_URL if set (it must answer), else a local one on 127.0.0.1:`port`."""
    configured = os.environ.get("PREFECT_API_URL", "").strip()
    if configured:
        if not healthy(configured, timeout=10):
            raise ServerError(f"PREFECT_API_URL={configured} does not answer /health; start that server or "
                              "unset PREFECT_API_URL to let agentfab start a local one")
        return Server(configured, None)
    port = port or free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_API_URL": "", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_API_URL": api_url}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the server outlives this call
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
                             str(port)], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=partial(die_with_parent, signal.SIGTERM))
    server = Server(api_url, proc)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"`prefect server start` exited with code {proc.returncode}"
                              + (f"; see {log}" if log else ""))
        if healthy(api_url):
            return server
        time.sleep(0.5)
    server.stop()
    raise ServerError(f"the local Prefect server did not become healthy within {wait:.0f}s")


def serve_recipe(recipe: Path, *, cron: str, out: Path | str, name: str, workers: int, server: Server,
                 announce: Any = print) -> None:
    """Register the deployment with its cron schedule on `server` and run its scheduled runs until interrupted."""
    # runs execute in child processes, which read the environment; this process's settings were read at import
    os.environ["PREFECT_API_URL"] = server.api_url
    os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"  # a run must never fall back to a temporary server
    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner
    from prefect.schedules import Cron
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED, temporary_settings

    schedule = Cron(cron, timezone="UTC")
    announce(server.describe())
    with temporary_settings({PREFECT_API_URL: server.api_url, PREFECT_SERVER_EPHEMERAL_ENABLED: False}):
        # what `flow.serve` does, with the announcement once the deployment is registered (not before)
        runner = Runner(name=name)
        runner.add_flow(scheduled_build, name=name, schedules=[schedule],
                        parameters={"recipe": str(recipe), "out": str(out), "workers": workers})
        announce(f"serving {DEPLOYMENT_FLOW}/{name}: cron '{cron}' (UTC), each run adds a version to {out}; "
                 "stop with Ctrl-C")
        try:
            asyncio.run(runner.start())
        except TerminationSignal:  # Prefect's own SIGTERM handling: stop serving like Ctrl-C
            raise KeyboardInterrupt from None
