"""Prefect's ephemeral API server, tied to the life of the process that started it.

Prefect runs its temporary server as a `python -m uvicorn ...` subprocess and stops it from an atexit hook, which
never runs when the build is killed (SIGKILL from a service manager or a CI cancel): the server, ~200 MB, would
stay forever. `install()` makes Prefect start the same command through this module instead, which runs uvicorn
in-process and watches its parent: once the parent is gone (the child is re-parented), it stops the server
(SIGTERM to itself, then a hard exit if shutdown hangs). The parent's pid is checked, not a pipe or
PR_SET_PDEATHSIG, because the latter fires when the *thread* that started the server ends, which may be long
before the process does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

POLL_SECONDS = 0.2
GRACE_SECONDS = 3.0


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
