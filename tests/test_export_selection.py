"""Choosing rows to export: filters over a build's shards, the --where grammar (never Python), the split by
task family, and the export command's wiring."""

from __future__ import annotations

import builtins
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rows import accepted_rows, rejected_parallel_row, sample_rows
from small_builds import write_dataset

from agentfab.formats.export.select import load_rows, split_by_family
from agentfab.formats.export.where import WhereError, parse_where
from agentfab.schemas.rows import ROW_ARROW_SCHEMA


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    """A build folder holding the fixture rows: accepted in shards/, rejected in rejected/."""
    return write_dataset(tmp_path / "build", accepted_rows(), [rejected_parallel_row()])


# --- selection ---------------------------------------------------------------------------------------------------

def test_load_rows_reads_accepted_and_rejected_shards(dataset_dir):
    assert load_rows(dataset_dir) == accepted_rows()
    assert load_rows(dataset_dir, rejected=True) == sample_rows()
    assert [r["id"] for r in load_rows(dataset_dir, accepted=False, rejected=True)] == ["r-parallel-neg"]


def test_filters_select_tasks_on_both_sides_but_min_score_only_on_accepted(dataset_dir):
    ids = lambda **kw: [r["id"] for r in load_rows(dataset_dir, rejected=True, **kw)]  # noqa: E731
    assert ids(kind=["parallel"]) == ["r-parallel", "r-parallel-neg"]
    assert ids(min_depth=2) == ["r-clarify"]
    assert ids(domain="shop") == []
    assert ids(min_score=4.5) == ["r-single", "r-parallel", "r-clarify", "r-parallel-neg"]
    assert ids(where="depth >= 2 and domain = 'bank'") == ["r-clarify"]
    assert ids(where="kind IN ('single', 'clarify') AND NOT n_calls > 1") == ["r-single"]
    assert ids(where="verification.passed = false or judge_score < 4.5") == ["r-recovery", "r-parallel-neg"]


@pytest.mark.parametrize("text,expected", [
    ("depth >= 2 AND domain = 'bank'", ["r-clarify"]),
    ("depth >= 2 and domain == 'bank'", ["r-clarify"]),
    ("(kind = 'single' or kind = 'parallel') and n_errors = 0", ["r-single", "r-parallel"]),
    ("kind NOT IN ('single', 'parallel')", ["r-clarify"]),
    ("n_calls > depth", ["r-parallel", "r-recovery"]),
    ("not (kind = 'single' or kind = 'clarify') and depth in (1, 2.0)", ["r-parallel"]),
    ("verification.passed", ["r-single", "r-parallel", "r-clarify", "r-recovery"]),
    ("provenance.negative IS NULL", ["r-single", "r-parallel", "r-clarify", "r-recovery"]),
    ("1 <= width AND judge_score >= 4.5 and query != ''", ["r-single", "r-parallel", "r-clarify"]),
    ("query = 'call f(x) and SELECT'", []),  # words inside quotes are data
])
def test_where_accepts_sql_conditions(text, expected):
    frame = pl.DataFrame(accepted_rows(), schema=pl.from_arrow(ROW_ARROW_SCHEMA.empty_table()).schema)
    assert frame.filter(parse_where(text, frame.schema))["id"].to_list() == expected


@pytest.mark.parametrize("text,message", [
    ("__import__('os').system('true')", "__import__(...) looks like a function call"),
    ("eval('1')", "eval(...) looks like a function call"),
    ("upper(kind) = 'X'", "upper(...) looks like a function call"),
    ("depth IN (SELECT 1)", "subqueries are not allowed"),
    ("depth >= 2; import os", "cannot read"),
    ("dept >= 2", "unknown column 'dept' in 'dept >= 2'; columns are: id, task_id, family"),
    ('domain = "bank"', "unknown column 'bank' in 'domain = \"bank\"' (text values take single quotes)"),
    ("verification.score > 1", "names no field 'score'"),
    ("depth = 'two'", "cannot compare string with numeric type"),
    ("depth >= ", "cannot read"),
    ("domain = 'bank' or", "cannot read"),
    ("domain", "filter predicate must be of type `Boolean`"),
    ("depth >= 2 depth", "has a word after the condition"),
    ("", "empty"),
    ("pl.col('depth') > 1", "pl.col(...) looks like a function call"),
    ("depth in [1, 2]", "cannot read"),
    ("kind = 2", "cannot compare string with numeric type"),
    ("tools_used = 'get_balance'", "does not apply"),
])
def test_where_refuses_anything_else_with_a_clear_message(text, message):
    schema = pl.from_arrow(ROW_ARROW_SCHEMA.empty_table()).schema
    with pytest.raises(WhereError, match=re.escape(message)):
        parse_where(text, schema)


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(alphabet=st.sampled_from(list("depth_kind=<>!'\"()[], .andornotin0123456789_:;`\\")), max_size=40),
    st.lists(st.sampled_from(["depth", "kind", "judge_score", "verification.passed", "tools_used", "==", "=", ">=",
                              "<", "!=", "and", "or", "not", "in", "is", "null", "(", ")", ",", "'bank'", "2", "1.5",
                              "true", "__import__", "('os')", ";", "select", "provenance.negative"]),
             max_size=12).map(" ".join),
))
def test_where_never_evaluates_python_and_fails_only_with_where_error(text):
    frame = pl.DataFrame(accepted_rows(), schema=pl.from_arrow(ROW_ARROW_SCHEMA.empty_table()).schema)
    real_eval, real_exec = builtins.eval, builtins.exec

    def refuse(*args, **kwargs):
        raise AssertionError("--where must never reach eval/exec")

    builtins.eval, builtins.exec = refuse, refuse
    try:
        expr = parse_where(text, frame.schema)
    except WhereError:
        return
    finally:
        builtins.eval, builtins.exec = real_eval, real_exec
    frame.filter(expr)  # what parses also runs


# --- split -------------------------------------------------------------------------------------------------------

_rows_strategy = st.lists(st.fixed_dictionaries({"id": st.uuids().map(str),
                                                 "family": st.sampled_from([f"fam-{i}" for i in range(12)])}),
                          max_size=60)


@settings(max_examples=200, deadline=None)
@given(rows=_rows_strategy, fraction=st.floats(0, 0.99), seed=st.integers(0, 2**32))
def test_split_keeps_every_family_on_one_side(rows, fraction, seed):
    train, val = split_by_family(rows, fraction, seed)
    assert not {r["family"] for r in train} & {r["family"] for r in val}
    assert sorted(map(id, train + val)) == sorted(map(id, rows))
    assert [r for r in rows if r in train] == train, "row order is kept within a side"
    assert split_by_family(rows, fraction, seed) == (train, val)
    # A family's side does not depend on the other rows present.
    for row in rows:
        alone_train, _ = split_by_family([row], fraction, seed)
        assert (row in train) == bool(alone_train)


def test_split_of_many_families_is_near_the_fraction_and_refuses_bad_fractions():
    rows = [{"family": f"fam-{i}"} for i in range(4000)]
    _, val = split_by_family(rows, 0.1, seed=0)
    assert 320 < len(val) < 480
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        split_by_family(rows, 1.0, seed=0)


# --- the command's wiring ----------------------------------------------------------------------------------------

def test_run_export_writes_train_and_val_files_split_by_family(dataset_dir, tmp_path):
    from agentfab.flows.exporting import run_export

    out = tmp_path / "out" / "train.jsonl"
    written = run_export(dataset_dir, "openai", out, where=None, kinds=[], domains=[], min_depth=None,
                         min_score=None, reasoning=True, val_fraction=0.5)
    assert [r.path.name for r in written] == ["train.jsonl", "train.val.jsonl"]
    assert sum(r.records for r in written) == 4



