"""A dataset grows by versions: fresh seeds from the recipe seed and the version, no duplicates across versions,
lineage in the manifest; an interrupted version resumes and is never listed as complete."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tracemalloc
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from agentfab.flows.build import build
from agentfab.flows.cli import main
from agentfab.flows.lineage import version_seed
from agentfab.flows.runners import ProcessRunner
from agentfab.validators.near_index import NearIndex, band_keys

RECIPE = "name: grow\nseed: 21\nrecords: 90\nshard_size: 30\nworlds: [bank, library]\nnegatives: 0.1\n"


class _FailingShard(ProcessRunner):
    """In-process, except that one shard of the version being built fails (as a killed worker would)."""

    def __init__(self, shard: int):
        super().__init__(1)
        self.shard = shard

    def submit(self, job):
        if job.version > 1 and job.shard == self.shard:
            future: Future = Future()
            future.set_exception(RuntimeError("worker lost"))
            return future
        return super().submit(job)


def _accepted(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "shards" / "*.parquet")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grow") / "grow.yaml"
    path.write_text(RECIPE)
    return path


def test_an_extension_adds_a_version_with_its_own_seed_and_no_duplicates(prefect_harness, recipe, tmp_path: Path):
    out = tmp_path / "ds"
    first = build(recipe, out=out, workers=1)
    second = build(recipe, out=out, workers=1, extend=True)
    assert [v["version"] for v in second["lineage"]] == [1, 2]
    v1, v2 = second["lineage"]
    assert v1 == first["lineage"][0]  # an earlier version's entry never changes
    assert (v2["parent"], v2["seed"], v2["shards"]) == (1, version_seed(21, 2),
                                                         ["shard-v0002-00000", "shard-v0002-00001", "shard-v0002-00002"])
    assert v2["seed"] not in (21, version_seed(21, 3)) and v2["recipe_hash"] == v1["recipe_hash"]
    rows = _accepted(out)
    assert rows["id"].is_unique().all()
    assert rows["verification"].struct.field("dedup_key").is_unique().all()
    calls = rows.filter(pl.col("n_calls") > 0).select(
        pl.col("ground_truth").struct.field("plan").list.eval(
            pl.element().struct.field("tool") + pl.element().struct.field("arguments")).list.sort().list.join("|"))
    assert calls.to_series().is_unique().all()  # no near-duplicate call sets, across shards and versions
    assert rows.filter(pl.col("id").str.contains("-v0002-")).height == v2["rows"]["accepted"] > 0
    assert second["rows"]["accepted"] == rows.height == v1["rows"]["accepted"] + v2["rows"]["accepted"]
    seeds = pl.read_parquet(out / "shards" / "shard-v0002-*.parquet")["provenance"].struct.field("seed").unique()
    assert seeds.to_list() == [v2["seed"]]
    assert (out / "index" / "near-v0002.sqlite").exists()

    listing = CliRunner().invoke(main, ["versions", str(out)])
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert lines[1].split()[:3] == ["1", "-", "21"] and lines[2].split()[:3] == ["2", "1", str(v2["seed"])]
    exported = CliRunner().invoke(main, ["export", str(out), "--format", "openai", "--out",
                                         str(tmp_path / "v1.jsonl"), "--version", "1"])
    assert exported.exit_code == 0, exported.output
    assert len((tmp_path / "v1.jsonl").read_text().splitlines()) == v1["rows"]["accepted"]
    inspected = CliRunner().invoke(main, ["inspect", str(out), "--version", "1"])
    assert inspected.exit_code == 0 and "version 1 of 2" in inspected.output
    wrong = CliRunner().invoke(main, ["inspect", str(out), "--version", "3"])
    assert wrong.exit_code == 2 and "no complete version 3 (complete versions: 1, 2)" in wrong.output


def test_an_interrupted_extension_is_not_listed_and_resumes_to_the_same_rows(prefect_harness, recipe,
                                                                             tmp_path: Path):
    broken, clean = tmp_path / "broken", tmp_path / "clean"
    build(recipe, out=broken, workers=1)
    with pytest.raises(Exception, match="worker lost"):
        build(recipe, out=broken, runner=_FailingShard(1), extend=True)
    assert [v["version"] for v in json.loads((broken / "manifest.json").read_text())["lineage"]] == [1]
    listing = CliRunner().invoke(main, ["versions", str(broken)])
    assert "version 2: in progress (not complete)" in listing.output

    resumed = build(recipe, out=broken, workers=1, extend=True)  # resumes version 2, does not start 3
    assert [v["version"] for v in resumed["lineage"]] == [1, 2]
    assert resumed["timings"]["shards_built_this_run"] == 1  # only the shard that failed is built again

    build(recipe, out=clean, workers=1)
    build(recipe, out=clean, workers=1, extend=True)
    for split in ("shards", "rejected"):
        a = pl.read_parquet(broken / split / "*.parquet").sort("id")
        b = pl.read_parquet(clean / split / "*.parquet").sort("id")
        assert a.equals(b), split


def test_the_near_duplicate_index_finds_a_reordered_call_set_and_not_a_different_one():
    def feats(*names: str) -> np.ndarray:
        # a stable hash: Python's hash() of a str changes with each process, and so would the LSH's buckets
        return np.array(sorted(int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(), "little") % 2**63
                               for n in names), dtype=np.uint64)

    index = NearIndex(0.75)
    index.add(np.array([1, 2], dtype=np.uint64), [feats("a", "b", "c", "d"), feats("x", "y")])
    got = index.check(np.array([3, 2, 4, 5], dtype=np.uint64),
                      [feats("d", "c", "b", "a"), feats("p"), feats("a", "b", "c", "d", "e"), feats("a", "q")])
    assert got[0][0] == "near" and got[0][2] == 1.0
    assert got[1][0] == "exact"
    assert got[2] is not None and got[2][0] == "near" and abs(got[2][2] - 0.8) < 1e-9  # 4 of 5 shared
    assert got[3] is None  # Jaccard 0.2: a different task
    assert NearIndex(1.0).check(np.array([9], dtype=np.uint64), [feats("a")]) == [None]


def _as_old_npz(index: Path) -> Path:
    """Rewrite an index file in the format of agentfab before the SQLite index: numpy arrays in one .npz."""
    with sqlite3.connect(index) as db:
        rows = db.execute("SELECT key, feats FROM rows ORDER BY id").fetchall()
    feats = [np.frombuffer(blob, dtype=np.uint64) for _, blob in rows]
    npz = index.with_suffix(".npz")
    np.savez(npz, keys=np.array([k for k, _ in rows], dtype=np.int64).view(np.uint64), bands=band_keys(feats),
             feat=np.concatenate(feats), offsets=np.concatenate([[0], np.cumsum([len(f) for f in feats])]),
             threshold=np.array([0.9]))
    index.unlink()
    return npz


def test_an_extension_of_an_older_build_reads_its_npz_index_and_makes_the_same_rows(prefect_harness, recipe,
                                                                                      tmp_path: Path):
    old, new = tmp_path / "old", tmp_path / "new"
    for out in (old, new):
        build(recipe, out=out, workers=1)
    npz = _as_old_npz(old / "index" / "near-v0001.sqlite")
    from_npz = NearIndex.start(tmp_path / "a.sqlite", 0.9, npz)
    from_sqlite = NearIndex.start(tmp_path / "b.sqlite", 0.9, new / "index" / "near-v0001.sqlite")
    assert len(from_npz) == len(from_sqlite) == _accepted(new).height
    with sqlite3.connect(new / "index" / "near-v0001.sqlite") as db:
        key, blob = db.execute("SELECT key, feats FROM rows WHERE id = 3").fetchone()
    probe = np.array([key, 12345], dtype=np.int64).view(np.uint64)
    feats = [np.frombuffer(blob, dtype=np.uint64), np.frombuffer(blob, dtype=np.uint64)]
    assert from_npz.check(probe, feats) == from_sqlite.check(probe, feats) == [("exact", -1, 1.0), ("near", 3, 1.0)]
    assert NearIndex.start(tmp_path / "c.sqlite", 0.9).check(probe, feats) == [None, None]  # the control: empty

    a, b = (build(recipe, out=out, workers=1, extend=True) for out in (old, new))
    assert [v["moved_across_shards"] for v in a["lineage"]] == [v["moved_across_shards"] for v in b["lineage"]]
    for split in ("shards", "rejected"):
        assert pl.read_parquet(old / split / "*.parquet").sort("id").equals(
            pl.read_parquet(new / split / "*.parquet").sort("id")), split
    assert (old / "index" / "near-v0002.sqlite").is_file() and npz.is_file()  # the parent's index is kept


def test_the_index_keeps_its_rows_in_its_file_not_in_the_drivers_memory(tmp_path: Path):
    rng = np.random.default_rng(3)
    index = NearIndex.start(tmp_path / "i.sqlite", 0.9)
    batches = [(rng.integers(1, 2**63, 1000, dtype=np.uint64),
                [np.sort(rng.integers(1, 2**63, 3, dtype=np.uint64)) for _ in range(1000)]) for _ in range(21)]
    tracemalloc.start()
    try:
        for i, (keys, feats) in enumerate(batches):
            if i == 3:  # from here on (Python's free lists are filled), each row added stays in the file
                before = tracemalloc.get_traced_memory()[0]
            assert index.check(keys, feats) == [None] * 1000
            index.add(keys, feats)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(index) == 21_000 and index.check(*batches[7]) == [("exact", -1, 1.0)] * 1000
    assert grown < 50_000, grown  # an index in numpy arrays grows by ~1.3 MB for these 18,000 rows
    assert (tmp_path / "i.sqlite").stat().st_size > 20_000 * 40


def test_task_ids_of_a_later_version_never_repeat_an_earlier_ones():
    """One id scheme for offline and LLM shards (the LLM path once built ids without the version)."""
    from agentfab.flows.shard import ShardJob

    first, second = (ShardJob("{}", "h", ".", "out", 3, version) for version in (1, 2))
    assert first.task_id("qs", 7) == "qs-00003-000007"
    assert second.task_id("qs", 7) == "qs-v0002-00003-000007"
