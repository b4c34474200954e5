"""Test settings: Prefect offline and quiet, with its state in the repo's git-ignored .cache/ folder.

Set before anything imports prefect. Flow-level tests use the session-scoped `prefect_harness` fixture; unit tests
call plain functions and never start a Prefect server.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ["PREFECT_HOME"] = str(ROOT / ".cache" / "prefect-tests")
os.environ["PREFECT_API_URL"] = ""
# the benchmark index for decontamination: fetched and built once, then reused by every test session
os.environ.setdefault("AGENTFAB_CACHE", str(ROOT / ".cache" / "agentfab"))
for key, value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_ENABLED": "true",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}.items():
    os.environ[key] = value
Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))


@pytest.fixture(scope="session")
def prefect_harness():
    from harness import lifeline_harness

    with lifeline_harness(90):  # its server dies with the session, even a killed one
        yield


@pytest.fixture(scope="session")
def small_recipe(tmp_path_factory) -> Path:
    """A recipe over every built-in world with every task kind, small enough for a test build."""
    path = tmp_path_factory.mktemp("recipes") / "small.yaml"
    path.write_text(
        "name: small\n"
        "seed: 11\n"
        "records: 420\n"
        "shard_size: 140\n"
        "worlds: [bank, shop, travel, calendar, library]\n"
        "tasks:\n"
        "  mix: {single: .1, parallel: .2, chain: .2, compound: .15, multi_turn: .15, irrelevant: .1, clarify: .1}\n"
        "  depth: {max: 4}\n"
        "  width: {max: 4}\n"
        "  distractors: 3\n"
        "rollouts: {agent: oracle, recovery: 0.2}\n"
        "negatives: 0.2\n"
    )
    return path


@pytest.fixture(scope="session")
def small_build(prefect_harness, small_recipe, tmp_path_factory) -> Path:
    """One small build shared by the tests that read a dataset."""
    from agentfab.flows.build import build

    out = tmp_path_factory.mktemp("builds") / "small"
    build(small_recipe, out=out, workers=2)
    return out
