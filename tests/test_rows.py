"""Every dataset row is assembled by one function and checked against the DatasetRow contract before a shard is
written: a misspelled or missing key raises instead of vanishing in the Parquet writer."""

from __future__ import annotations

import copy

import pyarrow.parquet as pq
import pytest
from rows import accepted_rows, sample_rows

from agentfab.flows.importing import run_import
from agentfab.flows.storage import write_rows
from agentfab.formats.export import write_export
from agentfab.schemas.rows import DatasetRow, RowShapeError, check_row_shapes


def test_sample_rows_fit_the_contract_and_pydantic_agrees():
    rows = sample_rows()
    check_row_shapes(rows)
    for row in rows:
        DatasetRow.model_validate(row)


@pytest.mark.parametrize("path", [("query",), ("verification", "judge_score"), ("provenance", "negative"),
                                  ("content", 0, "tool_call_id"), ("ground_truth", "plan", 0, "bindings"),
                                  ("tools", 0, "mutates")])
def test_a_misspelled_key_at_any_depth_raises_before_writing(tmp_path, path):
    row = copy.deepcopy(accepted_rows()[0])
    row["ground_truth"]["plan"] = [{"id": "s1", "tool": "get_balance", "arguments": "{}", "bindings": [],
                                    "depends_on": [], "turn": 0, "result": "{}", "asks": [],
                                    "expect_error": None}]
    check_row_shapes([row])
    parent = row
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1] + "_"] = parent.pop(path[-1])  # misspelled: the real key is missing, an unknown one appears
    out = tmp_path / "shard.parquet"
    with pytest.raises(RowShapeError, match=rf"unknown key\(s\) \['{path[-1]}_'\]; missing key\(s\) \['{path[-1]}'\]"):
        write_rows(out, [row], {"shard": "0"})
    assert not out.exists()


def test_an_extra_key_raises_and_a_fitting_row_is_written(tmp_path):
    row = copy.deepcopy(accepted_rows()[0])
    with pytest.raises(RowShapeError, match="provenance: unknown key"):
        check_row_shapes([{**row, "provenance": {**row["provenance"], "llm_model": "x"}}])
    write_rows(tmp_path / "ok.parquet", [row], {"shard": "0"})
    assert pq.read_table(tmp_path / "ok.parquet").to_pylist()[0]["id"] == row["id"]


def test_an_imported_row_has_the_same_derived_columns_as_the_row_it_came_from(tmp_path):
    rows = accepted_rows()
    write_export(rows, "hf", tmp_path / "train.jsonl")
    summary = run_import(tmp_path / "train.jsonl", "hf", tmp_path / "imported")
    assert summary.accepted == len(rows), summary.reasons
    back = pq.read_table(tmp_path / "imported" / "shards").to_pylist()  # in file order
    assert len(back) == len(rows)
    for row, twin in zip(rows, back):
        for column in ("n_calls", "n_errors", "tools_used", "query", "n_turns", "schema_version"):
            assert twin[column] == row[column], (row["id"], column)
