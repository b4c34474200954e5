"""Finalize reads each shard once: the quality figures and the coverage come from the shards' own stats (measured
when each shard was written, less the rows cross-shard dedup moved), and they equal what the rows on disk say."""

from __future__ import annotations

import json
from collections import Counter

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prefect.logging import disable_run_logger

from agentfab.flows.build import finalize, prepare_output
from agentfab.flows.quality import shard_quality
from agentfab.flows.recipe import parse_recipe
from agentfab.flows.shard import ShardJob, build_shard, distributions
from agentfab.flows.storage import paths

ADDITIVE = ("rows_measured", "asked_facts", "asked_facts_stated_share", "template_lint_rejected_rows", "created_ids",
            "created_ids_distinct_share", "error_types")


@pytest.fixture
def duplicated_build(tmp_path):
    """Two shards over two worlds; shard 1 also holds five rows of shard 0, counted in its stats as a shard would
    count them, so finalize must move them and take them out of every figure."""
    recipe = parse_recipe({"name": "fin", "seed": 3, "records": 160, "shard_size": 80, "worlds": ["bank", "shop"],
                           "negatives": 0.1, "rollouts": {"agent": "oracle", "recovery": 0.3}})
    out = tmp_path / "out"
    prepare_output(recipe, out, overwrite=False)
    for i in range(recipe.n_shards):
        build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp_path), str(out), i))
    first, second = paths(out, 0), paths(out, 1)
    repeated = pq.read_table(first["accepted"]).slice(0, 5)
    both = pa.concat_tables([pq.read_table(second["accepted"]), repeated.cast(pq.read_schema(second["accepted"]))])
    pq.write_table(both, second["accepted"])
    stats = json.loads(second["stats"].read_text())
    stats["rows"]["accepted"] = both.num_rows
    stats["distributions"] = distributions(both.to_pylist())
    stats["quality"] = shard_quality(both.to_pylist(), pq.read_table(second["rejected"]).to_pylist()).model_dump()
    second["stats"].write_text(json.dumps(stats))
    return recipe, out


def _on_disk(out):
    """The figures measured afresh on every row left on disk (the old way: read everything back)."""
    accepted = pq.read_table(sorted((out / "shards").glob("*.parquet"))[0]).to_pylist()
    for path in sorted((out / "shards").glob("*.parquet"))[1:]:
        accepted += pq.read_table(path).to_pylist()
    rejected = [r for path in sorted((out / "rejected").glob("*.parquet")) for r in pq.read_table(path).to_pylist()]
    return shard_quality(accepted, rejected)


def _finalize(recipe, out):
    with disable_run_logger():
        return finalize.fn(recipe, out, 1.0, [0, 1])


def test_quality_and_coverage_merged_from_shard_stats_equal_the_rows_on_disk(duplicated_build):
    recipe, out = duplicated_build
    before = _on_disk(out)  # still counts the five repeated rows
    manifest = _finalize(recipe, out)
    assert manifest["cross_shard_duplicates_moved"] >= 5
    fresh = _on_disk(out)
    q = manifest["quality"]
    assert q["rows_measured"] == fresh.rows == manifest["rows"]["accepted"]
    assert q["asked_facts"] == fresh.asked_facts > 0 and q["created_ids"] == sum(fresh.created_ids.values())
    assert q["error_types"] == dict(sorted(fresh.error_types.items(), key=lambda kv: (-kv[1], kv[0])))
    assert before.rows > fresh.rows and before.asked_facts > fresh.asked_facts  # the moved rows were subtracted
    # calls per (domain, tool), counted by polars from the API actions on disk
    calls = (pl.read_parquet(out / "shards" / "*.parquet").select("domain", "content").explode("content")
             .unnest("content").filter(pl.col("class_") == "api_action").group_by("domain", "function").len())
    cov = manifest["coverage"]
    assert cov["calls"] == calls["len"].sum() > 0
    per_domain = {d: n for d, n in calls.group_by("domain").agg(pl.col("len").sum()).iter_rows()}
    assert {d: v["calls"] for d, v in cov["domains"].items() if v["calls"]} == per_domain
    assert q["diversity_rows_measured"] == manifest["query_diversity"]["rows_measured"] == fresh.rows


def test_finalize_reads_each_shard_file_at_most_once(duplicated_build, monkeypatch):
    recipe, out = duplicated_build
    reads: Counter[str] = Counter()
    real_read, real_file = pq.read_table, pq.ParquetFile

    def read_table(source, *args, **kwargs):
        reads[str(source)] += 1
        return real_read(source, *args, **kwargs)

    def parquet_file(source, *args, **kwargs):
        reads[str(source)] += 1
        return real_file(source, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", read_table)
    monkeypatch.setattr(pq, "ParquetFile", parquet_file)
    monkeypatch.setattr(pl, "scan_parquet", lambda *a, **k: pytest.fail("finalize scanned the shards again"))
    _finalize(recipe, out)
    accepted = {str(p) for p in (out / "shards").glob("*.parquet")}
    assert accepted and all(reads[p] == 1 for p in accepted), reads
    assert all(n == 1 for n in reads.values()), reads  # a rejected file only where rows moved into it
    assert reads[str(paths(out, 0)["rejected"])] == 0


def test_stats_written_before_the_figures_existed_are_measured_from_their_files(duplicated_build):
    recipe, out = duplicated_build
    expected = _finalize(recipe, out)
    for path in (out / "stats").glob("*.json"):  # as an older agentfab wrote them
        stats = json.loads(path.read_text())
        del stats["quality"]
        path.write_text(json.dumps(stats))
    again = _finalize(recipe, out)
    assert again["quality"] == expected["quality"] and again["coverage"] == expected["coverage"]


def test_checks_that_overlap_the_shards_move_the_same_rows_as_one_pass_at_the_end(prefect_harness, tmp_path):
    from agentfab.flows.build import build

    text = ("name: overlap\nseed: 5\nrecords: 480\nshard_size: 80\nworlds: [bank]\nnegatives: 0\n"
            "tasks: {mix: {single: 1}}\n")  # one world, single calls: shards repeat each other's calls
    (tmp_path / "r.yaml").write_text(text)
    overlapped = tmp_path / "overlapped"
    manifest = build(tmp_path / "r.yaml", out=overlapped, workers=2)  # checks run while later shards build
    recipe = parse_recipe(__import__("yaml").safe_load(text))
    at_end = tmp_path / "at_end"
    prepare_output(recipe, at_end, overwrite=False)
    for i in range(recipe.n_shards):
        build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp_path), str(at_end), i))
    with disable_run_logger():
        single = finalize.fn(recipe, at_end, 1.0, list(range(recipe.n_shards)))
    assert manifest["cross_shard_duplicates_moved"] == single["cross_shard_duplicates_moved"] > 0
    for folder in ("shards", "rejected"):
        for path in sorted((at_end / folder).glob("*.parquet")):
            ids = pq.read_table(path, columns=["id"]).column("id").to_pylist()
            assert pq.read_table(overlapped / folder / path.name, columns=["id"]).column("id").to_pylist() == ids
    assert manifest["quality"] == single["quality"] and manifest["coverage"] == single["coverage"]
