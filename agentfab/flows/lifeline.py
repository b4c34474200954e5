"""Prefect's ephemeral API server, tied to the life of the process that started it.

`agentfab build` starts that server itself, first thing (`start_server`), and points PREFECT_API_URL at it before
Prefect is imported: its start-up (~3 s of CPU, importing Prefect's server) then overlaps the command's own imports
and world set-up instead of the shards, and the command never imports Prefect's server modules itself (~1.4 s of
CPU). The Python API (`build()` in a notebook) keeps Prefect's own way of starting it, through `install()`.

Prefect runs its temporary server as a `python -m uvicorn ...` subprocess and stops it from an atexit hook, which
never runs when the build is killed (SIGKILL from a service manager or a CI cancel): the server, ~200 MB, would
stay forever. `install()` makes Prefect start the same command through this module instead, which runs uvicorn
in-process and watches its parent: once the parent is gone (the child is re-parented), it stops the server
(SIGTERM to itself, then a hard exit if shutdown hangs). The parent's pid is checked, not a pipe or
PR_SET_PDEATHSIG, because the latter fires when the *thread* that started the server ends, which may be long
before the process does.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import socket
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

POLL_SECONDS = 0.2
GRACE_SECONDS = 3.0
# How long `stop` lets the server shut down before killing it: it records the task runs' last states as it stops.
# With 5 s, builds on a 2-core machine at load 13 left task runs RUNNING in its database now and then (likely cut
# off mid-shutdown); an idle machine stops in well under a second, so the longer bound costs nothing there.
STOP_SECONDS = 30.0
# How long `stop` waits for the server to record the last task-run states it was sent. The client sends a task
# run's states as events, and the server records them from a queue a moment later: stopped at once, it lost the
# last one now and then (a finished build's finalize task left RUNNING in the database). Idle, this takes <0.1 s.
SETTLE_SECONDS = 10.0
_NOT_FINAL = ["SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING"]


class _Subprocess:
    """The `subprocess` module as Prefect's server module sees it: only the uvicorn command is rewritten."""

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    @staticmethod
    def Popen(args: Any, *rest: Any, **kwargs: Any) -> subprocess.Popen[Any]:  # noqa: N802 (subprocess's name)
        args = list(args)
        if args[1:3] == ["-m", "uvicorn"]:
            args = [args[0], "-m", "agentfab.flows.lifeline", str(os.getpid()), *args[3:]]
        return subprocess.Popen(args, *rest, **kwargs)


def install() -> None:
    """Route Prefect's ephemeral server through the lifeline (idempotent; only when no server URL is set)."""
    if os.environ.get("PREFECT_API_URL"):
        return
    import prefect.server.api.server as server

    if not isinstance(server.subprocess, _Subprocess):
        server.subprocess = _Subprocess()  # type: ignore[assignment]


class ServerStartError(RuntimeError):
    """Prefect's temporary server did not come up; the message says what to do."""


class TemporaryServer:
    """Prefect's temporary API server (what Prefect's own SubprocessASGIServer runs), under the lifeline."""

    def __init__(self) -> None:
        spec = importlib.util.find_spec("prefect")  # finds it without importing it
        if spec is None or not spec.submodule_search_locations:
            raise ServerStartError("Prefect is not installed: pip install -e .")
        app_dir = str(Path(list(spec.submodule_search_locations)[0]).parent)
        # A temporary server needs no automations and no event history (it stops with the build): its triggers and
        # event persister off save ~0.4 s of its ~4.5 s of CPU in a 6,000-task build, and keep PREFECT_HOME's
        # database from growing by every build's events. Task runs are still recorded. A user's setting wins.
        env = {"PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
               "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false", **os.environ,
               "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        # The socket is bound here and handed over: no other process can take the port while the server imports
        # (seconds), and a request sent before it serves waits in the backlog instead of being refused.
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            self.port = int(sock.getsockname()[1])
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agentfab.flows.lifeline", str(os.getpid()), "--app-dir", app_dir, "--factory",
                 "prefect.server.api.server:create_app", "--fd", str(sock.fileno()), "--log-level", "error",
                 "--lifespan", "on"], env=env, pass_fds=(sock.fileno(),))
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.started = time.monotonic()
        self.ready = False
        self.flow_runs: list[str] = []  # the flow runs this process ran on the server (`note_flow_run`)

    def wait(self) -> None:
        """Until the server answers /health, within Prefect's start-up timeout (`configure` sets it) of its start."""
        timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 90)
        deadline = self.started + timeout
        while not self.ready:
            code = self.proc.poll()
            if code is not None:
                log = Path(os.environ.get("PREFECT_HOME", "~/.prefect")) / "agentfab-prefect.log"
                raise ServerStartError(f"Prefect's temporary server exited with code {code} while starting (its "
                                       f"log: {log}); set PREFECT_API_URL to a running Prefect server to use that "
                                       "one instead")
            if time.monotonic() > deadline:
                raise ServerStartError(f"Prefect's temporary server did not answer within {timeout:g}s; raise "
                                       "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS on a slow machine, or set "
                                       "PREFECT_API_URL to a running Prefect server")
            try:  # waits in the socket's backlog until the server serves
                wait = max(0.05, min(5.0, deadline - time.monotonic()))
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=wait) as reply:
                    self.ready = reply.status == 200
            except OSError:
                time.sleep(0.05)

    def _count(self, state_types: list[str] | None) -> int:
        """How many task runs of this process's flow runs the server has recorded (in one of `state_types`)."""
        body: dict[str, Any] = {"flow_runs": {"id": {"any_": self.flow_runs}}}
        if state_types is not None:
            body["task_runs"] = {"state": {"type": {"any_": state_types}}}
        request = urllib.request.Request(f"{self.api_url}/task_runs/count", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=SETTLE_SECONDS) as reply:
            return int(json.loads(reply.read()))

    def settle(self) -> bool:
        """Wait (within SETTLE_SECONDS) until the server has recorded a final state for every task run of this
        process's flow runs and no new task run appears between two looks. False if it did not settle."""
        if not self.ready or not self.flow_runs or self.proc.poll() is not None:
            return True
        deadline = time.monotonic() + SETTLE_SECONDS
        seen = -1
        while time.monotonic() < deadline:
            try:
                total, open_ = self._count(None), self._count(_NOT_FINAL)
            except (OSError, ValueError):
                return False  # the server no longer answers: nothing more to wait for
            if open_ == 0 and total == seen:
                return True
            seen = total if open_ == 0 else -1
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """SIGTERM and wait, as Prefect stops its own, once the server has recorded the last task runs' states."""
        if self.proc.poll() is None:
            self.settle()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_started: TemporaryServer | None = None


def start_server() -> TemporaryServer | None:
    """Start Prefect's temporary server now and point PREFECT_API_URL at it, unless a server is configured (or
    Prefect's ephemeral mode is off). Call before Prefect is imported; stopped when this process exits (after
    Prefect's own exit handlers have sent their last events)."""
    global _started
    if _started is not None or os.environ.get("PREFECT_API_URL", "").strip():
        return _started
    if os.environ.get("PREFECT_SERVER_EPHEMERAL_ENABLED", "").strip().lower() in ("0", "false", "no", "off"):
        return None  # Prefect says itself that it needs a server
    _started = TemporaryServer()
    os.environ["PREFECT_API_URL"] = _started.api_url
    atexit.register(_started.stop)  # registered before Prefect is imported: runs after Prefect's exit handlers
    return _started


def note_flow_run(flow_run_id: Any) -> None:
    """A flow run of this process: before the server `start_server` started stops, its task runs' last states are
    recorded (nothing to do without such a server)."""
    if _started is not None and flow_run_id is not None:
        _started.flow_runs.append(str(flow_run_id))


def wait_for_server() -> None:
    """Block until the server `start_server` started answers (nothing to wait for without one)."""
    if _started is not None:
        _started.wait()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn's own graceful shutdown
    time.sleep(GRACE_SECONDS)
    os._exit(1)


def main(argv: list[str]) -> None:
    """`python -m agentfab.flows.lifeline PARENT_PID UVICORN_ARGS...`"""
    parent = int(argv[1])
    if os.getppid() != parent:  # the parent died before we started
        sys.exit(1)
    threading.Thread(target=_watch, args=(parent,), name="lifeline", daemon=True).start()
    from uvicorn.main import main as uvicorn_main

    sys.argv = ["uvicorn", *argv[2:]]
    uvicorn_main()


if __name__ == "__main__":
    main(sys.argv)
