"""One line for every user error: `error: ...` on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import Any

import click


class UserError(click.ClickException):
    """Printed as one `error: ...` line and exit code 2; never a traceback."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def stop_build(signum: int, _frame: Any) -> None:
    """Ctrl-C or SIGTERM (a service manager, a CI cancel): one line, exit 128+signal, at once.

    Finished shards are already on disk, and a shard being written is a temporary file the next run removes. No
    clean-up runs: waiting for Prefect to flush its events took minutes with many shards. Worker processes and
    Prefect's server die with this process (see start_pool and lifeline.py); the OS releases the folder's lock.
    """
    restore = "\x1b[?25h" if sys.stderr.isatty() else ""  # the progress bar hides the cursor
    os.write(2, f"{restore}\ninterrupted: finished shards are kept; run the same command again to resume\n".encode())
    os._exit(128 + signum)


def stop_on(exc: OSError, out: Path | None) -> None:
    """One line and out at once: Prefect's shutdown after a failed write would print pages of its own errors."""
    click.echo(f"error: {os_error(exc, out)}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(UserError.exit_code)


def os_error(exc: OSError, out: Path | None = None) -> str:
    """An OS failure while writing, as one line naming the file (or the output folder) and what to do."""
    where = f"{exc.filename}: " if exc.filename else (f"{out}: " if out else "")
    what = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return f"{where}no space left on device; free some space and run the same command again to resume"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where}{what}; choose an --out folder you can write to"
    return f"{where}{what}"
