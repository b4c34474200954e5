"""Shard files: written whole or not at all, checked on resume, and de-duplicated across shards idempotently."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from agentfab.flows.build import prepare_output
from agentfab.flows.crossshard import cross_shard_pass
from agentfab.flows.recipe import parse_recipe
from agentfab.flows.shard import ShardJob, build_shard
from agentfab.flows.storage import paths, shard_is_complete
from agentfab.validators.near_index import NearIndex


def _build(tmp_path):
    recipe = parse_recipe({"name": "st", "seed": 2, "records": 120, "shard_size": 60, "worlds": ["bank"],
                           "negatives": 0})
    out = tmp_path / "out"
    assert prepare_output(recipe, out, overwrite=False) == (1, [0, 1])
    for i in range(recipe.n_shards):
        build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp_path), str(out), i))
    return recipe, out


def _dedup(out, recipe) -> int:
    """The cross-shard pass of finalize, without the benchmark check: how many rows it moved."""
    near = NearIndex(recipe.filters.dedup.near_threshold)
    return sum(cross_shard_pass(out, ["shard-00000", "shard-00001"], near=near, contamination=None).moved.values())


def test_a_complete_shard_is_recognized_and_a_damaged_one_is_not(tmp_path):
    recipe, out = _build(tmp_path)
    assert shard_is_complete(out, 0, recipe.hash()) and shard_is_complete(out, 1, recipe.hash())
    assert not shard_is_complete(out, 0, "another recipe")
    p = paths(out, 1)
    p["rejected"].write_bytes(p["rejected"].read_bytes()[:100])
    assert not shard_is_complete(out, 1, recipe.hash())
    p["stats"].unlink()
    assert prepare_output(recipe, out, overwrite=False) == (1, [1])


def test_rows_an_earlier_shard_accepted_move_to_rejected_once(tmp_path):
    recipe, out = _build(tmp_path)
    first, second = paths(out, 0), paths(out, 1)
    shutil.copy(first["accepted"], second["accepted"])  # shard 1 now repeats every row of shard 0
    stats = json.loads(second["stats"].read_text())
    n = pq.read_metadata(first["accepted"]).num_rows
    rejected_before = pq.read_metadata(second["rejected"]).num_rows
    stats["rows"]["accepted"] = n
    second["stats"].write_text(json.dumps(stats))
    assert _dedup(out, recipe) == n
    assert pq.read_metadata(second["accepted"]).num_rows == 0
    moved = pl.read_parquet(second["rejected"])
    assert moved.height == rejected_before + n
    reasons = moved.select(pl.col("verification").struct.field("reasons")).to_series().to_list()
    assert sum("dedup.exact_duplicate" in r for r in reasons) >= n
    assert _dedup(out, recipe) == 0  # idempotent: a rerun after a crash moves nothing twice
    assert pq.read_metadata(second["rejected"]).num_rows == rejected_before + n
    assert shard_is_complete(out, 1, recipe.hash())


def test_manifest_distributions_count_the_rows_on_disk_after_cross_shard_dedup(tmp_path):
    from prefect.logging import disable_run_logger

    from agentfab.flows.build import finalize
    from agentfab.flows.shard import distributions

    recipe, out = _build(tmp_path)
    first, second = paths(out, 0), paths(out, 1)
    repeated = pq.read_table(first["accepted"]).slice(0, 5)  # shard 1 also "accepted" five rows of shard 0
    both = pa.concat_tables([pq.read_table(second["accepted"]), repeated.cast(pq.read_schema(second["accepted"]))])
    pq.write_table(both, second["accepted"])
    stats = json.loads(second["stats"].read_text())
    stats["rows"]["accepted"] = both.num_rows
    stats["distributions"] = distributions(both.to_pylist())
    second["stats"].write_text(json.dumps(stats))
    with disable_run_logger():
        manifest = finalize.fn(recipe, out, 1.0, [0, 1])
    moved = manifest["lineage"][0]["moved_across_shards"]  # near-duplicates across shards move too
    assert moved["dedup.exact_duplicate"] == 5 and manifest["cross_shard_duplicates_moved"] == sum(moved.values())
    rows = pl.read_parquet(out / "shards" / "*.parquet")
    assert manifest["rows"]["accepted"] == rows.height
    for column in ("domain", "kind", "depth", "width", "n_turns", "n_calls"):
        on_disk = {str(k): n for k, n in rows[column].value_counts().iter_rows()}
        assert manifest["distributions"][column] == on_disk, column
    tools = {k: n for k, n in rows["tools_used"].explode().drop_nulls().value_counts().iter_rows()}
    assert manifest["distributions"]["tools_used"] == tools


def test_a_moved_row_keeps_every_column_but_its_verification_which_names_why(tmp_path):
    from agentfab.flows.crossshard import move_rows, shard_files
    from agentfab.flows.quality import shard_quality
    from agentfab.flows.shard import distributions

    _, out = _build(tmp_path)
    files = shard_files(out, "shard-00001")
    before = pq.read_table(files["accepted"])
    rejected_before = pq.read_table(files["rejected"])
    ids = before.column("id").to_pylist()
    moves = {ids[0]: ("dedup.near_duplicate", "dedup.near_duplicate: Jaccard 0.93 with a row"),
             ids[3]: ("dedup.exact_duplicate", "dedup.exact_duplicate: the same row")}
    move_rows(files, moves)
    after, rejected = pl.read_parquet(files["accepted"]), pl.read_parquet(files["rejected"])
    assert after.height == len(ids) - 2 and set(after["id"]) == set(ids) - set(moves)
    assert rejected.height == rejected_before.num_rows + 2
    assert rejected.head(rejected_before.num_rows).equals(pl.from_arrow(rejected_before))  # the old rows unchanged
    original = pl.from_arrow(before).filter(pl.col("id").is_in(list(moves)))
    moved = rejected.tail(2)
    assert moved.drop("verification").equals(original.drop("verification"))
    for row_id, old, new in zip(moved["id"], original["verification"].to_list(), moved["verification"].to_list()):
        code, detail = moves[row_id]
        assert new["passed"] is False and old["passed"] is True
        assert new["reasons"] == old["reasons"] + [code] and new["details"] == old["details"] + [detail]
        rest = ("passed", "reasons", "details")
        assert {k: v for k, v in new.items() if k not in rest} == {k: v for k, v in old.items() if k not in rest}
    stats = json.loads(files["stats"].read_text())
    assert stats["rows"] == {"accepted": after.height, "rejected": rejected.height}
    on_disk = pq.read_table(files["accepted"]).to_pylist()
    assert stats["distributions"] == distributions(on_disk)
    assert stats["quality"]["rows"] == shard_quality(on_disk, []).rows
    assert stats["reasons"]["dedup.near_duplicate"] >= 1 and shard_is_complete(out, 1, stats["recipe_hash"])
    move_rows(files, moves)  # a rerun (a finalize killed between its writes) adds no row to rejected twice
    assert pq.read_metadata(files["rejected"]).num_rows == rejected.height


def test_a_shard_keeps_statistics_on_its_top_level_scalar_columns_and_filters_read_them(tmp_path):
    recipe, out = _build(tmp_path)
    row_group = pq.ParquetFile(paths(out, 0)["accepted"]).metadata.row_group(0)
    with_statistics = {row_group.column(i).path_in_schema for i in range(row_group.num_columns)
                       if row_group.column(i).is_stats_set}
    assert {"domain", "kind", "depth", "judge_score", "id"} <= with_statistics
    assert all("." not in name for name in with_statistics)  # none inside content, tools, ground_truth, ...
    frame = pl.scan_parquet(paths(out, 0)["accepted"])
    assert frame.filter(pl.col("depth") >= 2).collect().height == \
        sum(d >= 2 for d in pq.read_table(paths(out, 0)["accepted"], columns=["depth"]).column(0).to_pylist())
