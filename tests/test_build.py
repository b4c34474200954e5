"""A real build through the Prefect flow, checked with the libraries that consume it (jsonschema, polars,
pyarrow, datasets) rather than with agentfab's own code."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import polars as pl
import pyarrow.parquet as pq
import pytest

from agentfab.flows.build import build
from agentfab.flows.revalidate import revalidate
from agentfab.schemas.publish import JSON_DIR
from agentfab.schemas.trajectory import Trajectory

KINDS = {"single", "parallel", "chain", "compound", "multi_turn", "irrelevant", "clarify"}


def _accepted(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "shards" / "*.parquet")


def test_the_build_has_every_kind_depth_and_width_up_to_four_and_rejected_rows(small_build):
    df = _accepted(small_build)
    assert set(df["kind"].unique()) == KINDS
    assert df["depth"].max() == 4 and df["width"].max() == 4
    rejected = pl.read_parquet(small_build / "rejected" / "*.parquet")
    assert rejected.height > 0
    codes = rejected.select(pl.col("verification").struct.field("reasons")).explode("reasons")["reasons"]
    assert codes.null_count() == 0 and codes.str.contains(r"^[a-z]+\.[a-z_]+$").all()
    manifest = json.loads((small_build / "manifest.json").read_text())
    assert manifest["rows"]["accepted"] == df.height and manifest["rows"]["rejected"] == rejected.height
    assert manifest["negatives"].get("escaped", 0) == 0
    assert manifest["negatives"]["made"] == manifest["negatives"]["caught_by_expected_code"] > 0
    assert 0 < manifest["query_diversity"]["distinct_2"] <= 1
    assert (small_build / "README.md").read_text().startswith("---\nconfigs:")


def test_every_call_names_an_offered_tool_and_its_arguments_validate(small_build):
    for row in _accepted(small_build).iter_rows(named=True):
        tools = {t["name"]: json.loads(t["parameters"]) for t in row["tools"]}
        for event in row["content"]:
            if event["class_"] != "api_action":
                continue
            assert event["function"] in tools, (row["id"], event["function"])
            jsonschema.validate(json.loads(event["kwargs"]), tools[event["function"]])


def test_accepted_rows_are_valid_adp_trajectories(small_build):
    schema = json.loads((JSON_DIR / "trajectory.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for row in _accepted(small_build).head(300).iter_rows(named=True):
        content = []
        for e in row["content"]:
            event = {k: v for k, v in e.items() if v is not None}
            if event["class_"] == "api_action":
                event["kwargs"] = json.loads(event["kwargs"])
            content.append(event)
        traj = {"id": row["id"], "schema_version": row["schema_version"], "content": content,
                "details": json.loads(row["details"])}
        validator.validate(traj)
        Trajectory.model_validate(traj)


def test_replaying_every_accepted_row_reproduces_observations_and_state(small_build):
    report = revalidate(small_build, include_rejected=True)
    assert report.checked > 300
    assert report.failed == 0, report.examples


def test_flat_columns_filter_cheaply_with_a_lazy_scan(small_build):
    deep = (pl.scan_parquet(small_build / "shards" / "*.parquet")
            .filter((pl.col("depth") >= 3) & (pl.col("kind") == "chain"))
            .select("id", "depth", "n_calls").collect())
    assert deep.height > 0 and (deep["n_calls"] >= deep["depth"]).all()
    schema = pq.read_schema(next((small_build / "shards").glob("*.parquet")))
    content = schema.field("content").type
    assert content.value_type.field("class_").type == "string" and content.value_type.field("kwargs").type == "string"


def test_hugging_face_datasets_loads_the_shards(small_build):
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("parquet", data_files=str(small_build / "shards" / "*.parquet"), split="train")
    assert ds.num_rows == _accepted(small_build).height
    assert ds[0]["content"][0]["class_"] == "text_observation"


def test_the_same_recipe_and_seed_give_the_same_rows(small_build, small_recipe, tmp_path):
    again = tmp_path / "again"
    build(small_recipe, out=again, workers=1)
    for folder in ("shards", "rejected"):
        a = pl.read_parquet(small_build / folder / "*.parquet")
        b = pl.read_parquet(again / folder / "*.parquet")
        assert a.equals(b), folder


def test_a_rerun_skips_finished_shards_and_a_corrupt_shard_is_rebuilt(small_build, small_recipe, tmp_path):
    ids_before = _accepted(small_build)["id"].to_list()
    victim = small_build / "shards" / "shard-00001.parquet"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # a truncated file, as a full disk would leave it
    manifest = build(small_recipe, out=small_build, workers=1)
    assert manifest["timings"]["shards_built_this_run"] == 1
    assert _accepted(small_build)["id"].to_list() == ids_before


def test_validate_fails_with_counts_per_code_on_a_tampered_dataset(small_build, tmp_path):
    import shutil
    import subprocess
    import sys

    import pyarrow as pa

    copy = tmp_path / "tampered"
    shutil.copytree(small_build, copy)
    path = copy / "shards" / "shard-00000.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    changed = 0
    for row in rows:
        for event in row["content"]:
            if event["source"] == "environment" and '"error"' not in event["content"]:
                event["content"] = event["content"].replace('"', "'", 2)  # an observation nobody observed
                changed += 1
                break
        if changed == 3:
            break
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    result = subprocess.run([sys.executable, "-m", "agentfab", "validate", str(copy)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1
    assert "3 failed" in result.stdout and "exec.observation_mismatch: 3" in result.stdout
    clean = subprocess.run([sys.executable, "-m", "agentfab", "validate", str(small_build)], capture_output=True,
                           text=True, timeout=300)
    assert clean.returncode == 0 and " 0 failed" in clean.stdout


def test_build_works_where_an_event_loop_already_runs_as_in_a_notebook(prefect_harness, tmp_path):
    import asyncio

    recipe = tmp_path / "nb.yaml"
    recipe.write_text("name: nb\nseed: 1\nrecords: 40\nshard_size: 20\nworlds: [bank]\n")

    async def notebook_cell():
        return build(recipe, out=tmp_path / "nb", workers=2)

    manifest = asyncio.run(notebook_cell())
    assert manifest["rows"]["accepted"] > 0
