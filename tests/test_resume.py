"""A build killed with SIGKILL mid-way resumes: the same row ids as an uninterrupted build, none lost or twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

RECIPE = "name: killme\nseed: 5\nrecords: 3000\nshard_size: 150\nworlds: [bank, library]\nnegatives: 0.1\n"


def _build(recipe: Path, out: Path, workers: int = 2) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "agentfab", "build", str(recipe), "--out", str(out), "--workers", str(workers),
         "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _ids(out: Path) -> list[str]:
    return sorted(pl.read_parquet(out / "shards" / "*.parquet")["id"].to_list() +
                  pl.read_parquet(out / "rejected" / "*.parquet")["id"].to_list())


def test_a_sigkilled_build_resumes_without_loss_or_duplicates(tmp_path: Path):
    recipe = tmp_path / "killme.yaml"
    recipe.write_text(RECIPE)
    killed = tmp_path / "killed"
    proc = _build(recipe, killed)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        done = len(list((killed / "stats").glob("shard-*.json"))) if (killed / "stats").exists() else 0
        if done >= 3:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the build finished before it could be killed: " + proc.stderr.read()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # workers die with the build process; nothing may be written after this point
    finished = len(list((killed / "stats").glob("shard-*.json")))
    time.sleep(1.0)
    assert len(list((killed / "stats").glob("shard-*.json"))) == finished, "an orphaned worker kept writing"
    assert 3 <= finished < 20
    assert not (killed / "manifest.json").exists()

    resumed = _build(recipe, killed)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]

    clean = tmp_path / "clean"
    full = _build(recipe, clean, workers=1)  # in-process: the worker count never changes the rows
    _, err = full.communicate(timeout=300)
    assert full.returncode == 0, err[-3000:]

    ids = _ids(killed)
    assert len(ids) == len(set(ids)), "a row was written twice"
    assert ids == _ids(clean)
    for folder in ("shards", "rejected"):
        assert pl.read_parquet(killed / folder / "*.parquet").equals(pl.read_parquet(clean / folder / "*.parquet"))
    assert not list(killed.rglob("*.tmp"))
