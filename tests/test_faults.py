"""Fault injection, for real: foreign files next to builds, damaged and swapped files, a second writer, signals to a
running build process. Each test asserts the outcome a user relies on: nothing foreign deleted, nothing lost, the
exact file named, no process left behind.

(Inputs that cost too much, user errors and a full disk: test_faults_inputs.py.)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from fault_kit import (SMALL, agentfab, alive, cmdline, descendants, one_line_error, snapshot, start, wait_until,
                       write_recipe)
from small_builds import make_build, reseal

from agentfab.flows.build import prepare_output
from agentfab.flows.cli import main
from agentfab.flows.recipe import parse_recipe


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A finished build of 3 shards (made without Prefect); tests damage copies of it."""
    return make_build(tmp_path_factory.mktemp("pristine") / "build", SMALL)


@pytest.fixture
def build(pristine, tmp_path) -> Path:
    copy = tmp_path / "build"
    shutil.copytree(pristine, copy)
    return copy


def _rows(out: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(out / "shards" / "*.parquet"), pl.read_parquet(out / "rejected" / "*.parquet")])


# --- ownership ----------------------------------------------------------------------------------------------------

def _users_folder(root: Path) -> Path:
    for rel, text in {"stats/q3-report.csv": "q,revenue\n3,1\n", "shards/notes.txt": "mine\n",
                      "README.md": "# my project\n", "manifest.json": "{}\n", "rejected/keep.parquet": "x"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_folder_agentfab_did_not_build_is_refused_whatever_the_flags(tmp_path):
    folder = _users_folder(tmp_path / "project")
    recipe = write_recipe(tmp_path / "r.yaml", SMALL)
    before = snapshot(folder)
    for flags in ([], ["--overwrite"]):
        line = one_line_error(agentfab("build", recipe, "--out", folder, *flags), str(folder))
        assert "--overwrite" not in line  # the refusal never suggests the flag that would delete the user's files
    assert snapshot(folder) == before


def test_the_root_and_a_home_folder_are_never_replaced(pristine, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", {**SMALL, "seed": 99})
    top = sorted(os.listdir("/"))
    one_line_error(agentfab("build", recipe, "--out", "/", "--overwrite"))
    assert sorted(os.listdir("/")) == top
    home = tmp_path / "home"
    shutil.copytree(pristine, home)  # even a home folder that holds an agentfab build
    before = snapshot(home)
    line = one_line_error(agentfab("build", recipe, "--out", home, "--overwrite", env={**os.environ,
                                                                                       "HOME": str(home)}))
    assert "home folder" in line and snapshot(home) == before


def test_overwrite_deletes_exactly_the_files_agentfab_wrote(build, tmp_path):
    nested = make_build(build / "shards" / "inner", {**SMALL, "name": "inner", "records": 20})
    (build / "stats" / "q3-report.csv").write_text("q,revenue\n")
    (build / "shards" / "notes.txt").write_text("mine\n")
    foreign = {rel: digest for rel, digest in snapshot(build).items()
               if rel.startswith("shards/inner/") or rel in ("stats/q3-report.csv", "shards/notes.txt")}
    assert len(foreign) > 8 and (nested / "manifest.json").is_file()
    other = parse_recipe({**SMALL, "seed": 22})
    assert prepare_output(other, build, overwrite=True) == (1, [0, 1, 2])
    after = snapshot(build)
    assert {rel: after.get(rel) for rel in foreign} == foreign  # every foreign file intact, the nested build too
    assert not (build / "shards" / "shard-00000.parquet").exists() and not (build / "manifest.json").exists()
    assert json.loads((build / "build.json").read_text())["recipe_hash"] == other.hash()


def test_a_symbolic_link_in_a_build_is_never_followed(build, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.move(build / "shards", elsewhere)
    (build / "shards").symlink_to(elsewhere, target_is_directory=True)
    before = snapshot(elsewhere)
    recipe = write_recipe(tmp_path / "r.yaml", SMALL)
    for flags in ([], ["--overwrite", "--seed", "5"]):
        one_line_error(agentfab("build", recipe, "--out", build, *flags), str(build / "shards"), "symbolic link")
    assert snapshot(elsewhere) == before


def test_import_refuses_a_folder_that_already_holds_a_dataset(build, tmp_path):
    source = tmp_path / "chat.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                               {"role": "assistant", "content": "hello"}]}) + "\n")
    before = snapshot(build)
    one_line_error(agentfab("import", source, "--format", "openai", "--out", build), str(build))
    assert snapshot(build) == before


# --- integrity ----------------------------------------------------------------------------------------------------

def test_resume_rebuilds_exactly_the_damaged_or_swapped_shards(pristine, build, tmp_path):
    rng = random.Random(3)
    damaged = build / "shards" / "shard-00001.parquet"
    data = bytearray(damaged.read_bytes())
    middle = len(data) // 2 - 2048
    data[middle:middle + 4096] = rng.randbytes(4096)  # 4 KB of random bytes in the middle, size unchanged
    damaged.write_bytes(bytes(data))
    shutil.copy(build / "shards" / "shard-00000.parquet", build / "shards" / "shard-00002.parquet")  # swapped

    result = agentfab("build", write_recipe(tmp_path / "r.yaml", SMALL), "--out", build, "--workers", "1", "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "shards/shard-00001.parquet" in result.stderr and "shards/shard-00002.parquet" in result.stderr
    assert "shard-00000" not in result.stderr  # only the damaged ones were rebuilt
    assert _rows(build).sort("id").equals(_rows(pristine).sort("id"))  # nothing lost, nothing twice
    assert agentfab("validate", build).returncode == 0


def _flip_bit(path: Path, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    at = rng.randrange(len(data))
    data[at] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


DAMAGE = {
    "bit flip": (lambda b: _flip_bit(b / "rejected" / "shard-00001.parquet", random.Random(8)),
                 "rejected/shard-00001.parquet"),
    "garbage stats": (lambda b: (b / "stats" / "shard-00002.json").write_bytes(os.urandom(300)),
                      "stats/shard-00002.json"),
    "missing rejected file": (lambda b: (b / "rejected" / "shard-00000.parquet").unlink(),
                              "rejected/shard-00000.parquet"),
    "no manifest": (lambda b: (b / "manifest.json").unlink(), "manifest.json"),
    "half the shards": (lambda b: [(b / f / n).unlink() for f, n in (("shards", "shard-00002.parquet"),
                                                                      ("rejected", "shard-00002.parquet"),
                                                                      ("stats", "shard-00002.json"))],
                        "stats/shard-00002.json"),
    "stray shard": (lambda b: shutil.copy(b / "shards" / "shard-00000.parquet", b / "shards" / "shard-00007.parquet"),
                    "shards/shard-00007.parquet"),
    "stats copied with their shard": (lambda b: [shutil.copy(b / f / f"shard-00000.{x}", b / f / f"shard-00001.{x}")
                                                 for f, x in (("shards", "parquet"), ("rejected", "parquet"),
                                                              ("stats", "json"))], "stats/shard-00001.json"),
}


def _duplicate_an_id(build: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = build / "shards" / "shard-00001.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[0]["id"] = pq.read_table(build / "shards" / "shard-00000.parquet").column("id")[0].as_py()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    reseal(build, 1)  # the stats agree with the file: only the id check can see it


DAMAGE["duplicate id"] = (_duplicate_an_id, "appears twice")


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_validate_export_inspect_and_show_name_the_exact_damaged_file(build, tmp_path, damage):
    hurt, named = DAMAGE[damage]
    hurt(build)
    result = agentfab("validate", build)
    assert result.returncode == 1 and named in result.stdout and "Traceback" not in result.stderr, result.stdout
    row_id = pl.read_parquet(build / "shards" / "shard-00000.parquet")["id"][0] if (
        build / "shards" / "shard-00000.parquet").exists() else "x"
    for args in (["export", build, "--format", "openai", "--out", tmp_path / "o.jsonl"], ["inspect", build],
                 ["show", build, row_id]):
        run = CliRunner().invoke(main, [str(a) for a in args])
        lines = run.stderr.strip().splitlines()
        assert run.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), (args, run.output)
        assert named in lines[0], (args, lines[0])
    assert not (tmp_path / "o.jsonl").exists()


def test_validate_catches_every_single_bit_flip(pristine, tmp_path):
    rng = random.Random(15)
    for trial in range(15):
        copy = tmp_path / f"b{trial}"
        shutil.copytree(pristine, copy)
        name = rng.choice(["shards", "rejected"]) + f"/shard-0000{rng.randrange(3)}.parquet"
        _flip_bit(copy / name, rng)
        result = CliRunner().invoke(main, ["validate", str(copy)])
        assert result.exit_code == 1 and name in result.output, (trial, name, result.output)


def test_a_partial_export_needs_its_flag_and_says_it_is_partial(build, tmp_path):
    for name in ("shards/shard-00002.parquet", "stats/shard-00002.json", "manifest.json"):
        (build / name).unlink()
    out = tmp_path / "train.jsonl"
    refused = CliRunner().invoke(main, ["export", str(build), "--format", "openai", "--out", str(out)])
    assert refused.exit_code == 2 and "stats/shard-00002.json" in refused.stderr and not out.exists()
    run = CliRunner().invoke(main, ["export", str(build), "--format", "openai", "--out", str(out), "--partial"])
    assert run.exit_code == 0 and "PARTIAL" in run.stderr
    intact = sum(pl.read_parquet(build / "shards" / f"shard-0000{i}.parquet").height for i in (0, 1))
    assert len(out.read_text().splitlines()) == intact
    marker = json.loads((tmp_path / "train.jsonl.partial.json").read_text())
    assert marker["partial"] and marker["shards_exported"] == ["shard-00000", "shard-00001"] and "shard-00002" in marker["not_exported"][0]


# --- one writer -----------------------------------------------------------------------------------------------------

BUSY = {"name": "busy", "seed": 11, "records": 3000, "shard_size": 100, "worlds": ["bank", "library"]}


def test_a_second_writer_stops_at_once_and_names_the_first(tmp_path):
    out = tmp_path / "out"
    # long enough that it is still running after both refusals, however loaded the machine (it is stopped below)
    first = start("build", write_recipe(tmp_path / "r.yaml", {**BUSY, "records": 60000}), "--out", out, "--workers",
                  "1", "--quiet")
    try:
        lock = out / ".agentfab" / "lock"
        assert wait_until(lambda: lock.exists() and str(first.pid) in lock.read_text(), 60), first.stderr.read()
        other = write_recipe(tmp_path / "r12.yaml", {**BUSY, "records": 9000, "seed": 12})
        for args in (["build", other, "--out", out, "--overwrite"], ["build", tmp_path / "r.yaml", "--out", out]):
            one_line_error(agentfab(*args), f"pid {first.pid}")
        assert first.poll() is None  # both refused while the first still ran: neither waited for the lock
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
    assert json.loads((out / "build.json").read_text())["recipe"]["seed"] == 11
    seeds = {s for p in (out / "shards").glob("*.parquet")
             for s in pl.read_parquet(p, columns=["provenance"])["provenance"].struct.field("seed").to_list()}
    assert seeds <= {11}


# --- no orphans -----------------------------------------------------------------------------------------------------

def _running_build(tmp_path: Path, recipe: dict, workers: int = 2):
    out = tmp_path / "out"
    proc = start("build", write_recipe(tmp_path / "r.yaml", recipe), "--out", out, "--workers", str(workers),
                 "--quiet")
    seen: set[int] = set()

    def server_up() -> bool:
        seen.update(descendants(proc.pid))
        return any("lifeline" in cmdline(p) for p in seen) and (out / "stats").is_dir() and any(
            (out / "stats").glob("*.json"))

    assert wait_until(server_up, 120, 0.1), proc.stderr.read()[-3000:] if proc.poll() is not None else "slow"
    seen.update(descendants(proc.pid))
    assert len(seen) >= 2  # the workers and Prefect's server
    return proc, seen, out


def test_the_test_sessions_prefect_server_dies_with_the_session(prefect_harness):
    """conftest's harness starts Prefect's server through the lifeline (tests/fixtures/harness.py), watching this
    process: a test run killed by its pid (SIGKILL runs no atexit) takes its server with it, as a killed build does
    (test_a_killed_build_leaves_no_process_behind_and_resumes). Before, the orphaned uvicorn kept running."""
    servers = [p for p in descendants(os.getpid()) if "uvicorn" in cmdline(p) or "lifeline" in cmdline(p)]
    assert servers, [cmdline(p) for p in descendants(os.getpid())]
    assert all(f"agentfab.flows.lifeline {os.getpid()} " in cmdline(p) for p in servers), [cmdline(p) for p in servers]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_build_leaves_no_process_behind_and_resumes(tmp_path, signum):
    proc, started, out = _running_build(tmp_path, BUSY)
    proc.send_signal(signum)
    proc.wait(15)
    assert wait_until(lambda: not any(alive(p) for p in started), 8), [cmdline(p) for p in started if alive(p)]
    err = proc.stderr.read()
    if signum == signal.SIGKILL:
        return  # resuming after SIGKILL: test_resume.py
    # like Ctrl-C: the resume hint, exit 128+15, no traceback; and the build resumes whole
    assert proc.returncode == 143 and "run the same command again to resume" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    resumed = agentfab("build", tmp_path / "r.yaml", "--out", out, "--workers", "2", "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert agentfab("validate", out).returncode == 0


def test_sigterm_ends_a_build_of_twenty_thousand_one_record_shards_promptly(tmp_path):
    recipe = {"name": "tiny", "seed": 1, "records": 20_000, "shard_size": 1, "worlds": ["bank"]}
    proc, started, _ = _running_build(tmp_path, recipe)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)
    assert time.monotonic() - sent < 5 and proc.returncode == 143
    assert wait_until(lambda: not any(alive(p) for p in started), 8), [cmdline(p) for p in started if alive(p)]
