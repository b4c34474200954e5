"""Quiet, offline-safe Prefect settings, applied before Prefect is imported, unless the user set them.

Ephemeral mode (no server to start by hand), no telemetry (there is no network to send it to), a longer start-up
timeout for slow first runs, and a PREFECT_HOME of agentfab's own so nothing lands in ~/.prefect. `agentfab build`
also sends Prefect's own log lines to a file (`quiet_console`), so that a user error is one line on stderr.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import yaml


def default_prefect_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agentfab" / "prefect"


DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


def configure() -> None:
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    if "PREFECT_HOME" not in os.environ:
        home = default_prefect_home()
        home.mkdir(parents=True, exist_ok=True)
        os.environ["PREFECT_HOME"] = str(home)


PREFECT_LOG = "agentfab-prefect.log"


def quiet_console() -> Path | None:
    """Prefect's console and debug log handlers (its EventsWorker retrying, a flow run's state, the temporary
    server) write to PREFECT_HOME/agentfab-prefect.log instead of stderr; returns that file. Call after `configure`
    and before Prefect is imported. Every logger keeps Prefect's own levels and routing; only where the lines land
    changes. Exceptions are not log lines: a crash still reaches the terminal as a traceback. A user who set
    PREFECT_LOGGING_SETTINGS_PATH keeps that configuration (None)."""
    if os.environ.get("PREFECT_LOGGING_SETTINGS_PATH"):
        return None
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        return None
    config = yaml.safe_load((Path(spec.submodule_search_locations[0]) / "logging" / "logging.yml").read_text())
    home = Path(os.environ["PREFECT_HOME"])
    log = home / PREFECT_LOG
    for name in ("console", "debug"):  # the two handlers that write to sys.stderr
        handler = config["handlers"][name]
        config["handlers"][name] = {
            "level": handler.get("level", 0), "formatter": handler["formatter"],
            "class": "logging.handlers.RotatingFileHandler", "filename": str(log).replace("$", "$$"),
            "maxBytes": 5_000_000, "backupCount": 1, "delay": True, "encoding": "utf-8"}
    path = home / "agentfab-logging.yml"
    tmp = home / f"agentfab-logging.{os.getpid()}.tmp"  # builds side by side write the same text: the last rename wins
    try:
        home.mkdir(parents=True, exist_ok=True)
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        tmp.replace(path)
    except OSError:  # an unwritable PREFECT_HOME: Prefect will say so itself; its lines stay on stderr
        return None
    os.environ["PREFECT_LOGGING_SETTINGS_PATH"] = str(path)
    return log
