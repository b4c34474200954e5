"""Every dataset row is assembled by one function and checked against the DatasetRow contract before a shard is
written: a misspelled or missing key raises instead of vanishing in the Parquet writer."""

from __future__ import annotations

import copy

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rows import accepted_rows, sample_rows

from agentfab.flows.importing import run_import
from agentfab.flows.row_arrow import record_dict
from agentfab.flows.rows import stored_events
from agentfab.flows.storage import rows_table, write_rows
from agentfab.formats.export import write_export
from agentfab.schemas.rows import ROW_ARROW_SCHEMA, DatasetRow, EventRow, RowShapeError, check_row_shapes
from agentfab.validators.reading import Reading
from agentfab.worlds.core import canonical_json


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


def test_a_shard_table_is_what_pyarrow_makes_of_its_rows_whether_tools_are_shared_or_copied(tmp_path):
    """Rows of a build hold one dict per distinct tool and the writer converts each once: the table must equal the
    plain conversion of the same rows, for shared dicts, copies, and a row without a tools list."""
    rows = copy.deepcopy(accepted_rows())
    shared: dict[tuple[str, str], dict] = {}
    for row in rows[::2]:
        row["tools"] = [shared.setdefault((t["domain"], t["name"]), t) for t in row["tools"]]
    assert any(len(row["tools"]) > 1 for row in rows)
    for batch in (rows, rows[:1], [], [*rows[:2], {**rows[2], "tools": None}]):
        expected = pa.Table.from_pylist(batch, schema=ROW_ARROW_SCHEMA)
        table = rows_table(batch, {"shard": "0"})
        assert table.equals(expected)
        assert table.schema.remove_metadata().equals(ROW_ARROW_SCHEMA.remove_metadata())
    write_rows(tmp_path / "s.parquet", rows, {"shard": "0"})
    assert pq.read_table(tmp_path / "s.parquet").to_pylist() == expected_rows(rows)


def expected_rows(rows: list[dict]) -> list[dict]:
    return pa.Table.from_pylist(rows, schema=ROW_ARROW_SCHEMA).to_pylist()


def event_row(event: dict) -> dict:
    return record_dict(stored_events([event]).stored[0], "content")


def test_an_event_keeps_only_the_stored_fields_whatever_else_it_carries():
    call = {"class_": "api_action", "function": "f", "kwargs": {"b": 1, "a": "x"}, "tool_call_id": "c1",
            "description": None}
    assert event_row(call) == {"class_": "api_action", "content": None, "function": "f", "kwargs": '{"a":"x","b":1}',
                               "description": None, "tool_call_id": "c1", "source": None, "name": None,
                               "language": None}
    assert event_row({**call, "thought": "scratch"}) == event_row(call)
    assert list(event_row(call)) == list(EventRow.model_fields)


def test_the_stored_events_are_each_events_own_fields_however_odd_the_events():
    """A Reading stores each event in the pass the checks make (the row takes them from it): each event's own
    fields, a call's object kwargs as canonical JSON, whatever the checks find wrong with the events."""
    events = [
        {"class_": "text_observation", "source": "user", "content": "hi", "extra": 1},
        {"class_": "api_action", "function": "f", "kwargs": {"b": [1, 2], "a": "é"}, "tool_call_id": "c1",
         "description": "look"},
        {"class_": "api_action", "function": None, "kwargs": "not an object", "tool_call_id": "c2"},
        {"class_": "api_action", "function": "g", "tool_call_id": "c1", "source": "environment",
         "content": '{"error": "odd"}'},
        {"class_": "text_observation", "source": "environment", "content": '{"error": {"type": "x"}}',
         "tool_call_id": "c1"},
        {"class_": "text_observation", "source": "environment", "content": None, "tool_call_id": "c9"},
        {"class_": "code_action", "language": "python", "content": "print(1)", "name": "run"},
        {"class_": "message_action", "content": "done", "source": "agent"},
        {"source": "environment", "content": '{"error": 1}'},
    ]
    fields = list(EventRow.model_fields)
    expected = [tuple(canonical_json(e[f]) if f == "kwargs" and e.get("class_") == "api_action"
                      and isinstance(e.get(f), dict) else e.get(f) for f in fields) for e in events]
    for reading in (None, Reading(events)):
        made = stored_events(events, reading)
        assert made.stored == expected
        assert made.functions == ["f", None, "g"]
        assert made.errors == ['{"error": {"type": "x"}}', '{"error": 1}']
    assert stored_events([]).stored == []


@pytest.mark.parametrize("change", ["str_for_list", "tuple_for_list", "none_for_struct", "none_in_list",
                                    "int_for_str", "list_for_struct", "none_for_required"])
def test_a_value_off_the_fast_path_converts_or_fails_as_pyarrow_does(change):
    """The column-by-column conversion (flows/row_arrow.py) leaves any value it does not expect to pyarrow's own
    conversion: same table, or the same kind of error, as `pa.Table.from_pylist`."""
    rows = copy.deepcopy(accepted_rows())
    row = rows[1]
    if change == "str_for_list":
        row["tools_used"] = "get_balance"
    elif change == "tuple_for_list":
        row["ground_truth"]["answers"] = tuple(row["ground_truth"]["answers"])
    elif change == "none_for_struct":
        row["content"][0] = None
    elif change == "none_in_list":
        row["tools_used"] = [None, *row["tools_used"]]
    elif change == "int_for_str":
        row["verification"]["judge_rationale"] = 5
    elif change == "list_for_struct":
        row["provenance"] = list(row["provenance"].values())
    else:
        row["id"] = None
    try:
        expected = pa.Table.from_pylist(rows, schema=ROW_ARROW_SCHEMA)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        with pytest.raises((type(exc), RowShapeError)):
            rows_table(rows, {})
        return
    try:
        table = rows_table(rows, {})
    except RowShapeError:  # a non-dict where an object goes: the contract check names it
        assert change in ("none_for_struct", "list_for_struct")
        return
    assert table.equals(expected)


def _as_record(value, arrow_type):
    """A row (or a part of one) of dicts as the record a build makes: `record_dict` the other way."""
    if pa.types.is_struct(arrow_type) and isinstance(value, dict):
        return tuple(_as_record(value[field.name], field.type) for field in arrow_type)
    if pa.types.is_list(arrow_type) and isinstance(value, list):
        return [_as_record(v, arrow_type.value_type) for v in value]
    return value


def test_records_convert_in_one_call_and_a_dict_or_a_record_of_another_width_among_them_is_still_checked():
    """A build's rows are records all the way down and pyarrow converts them whole. pyarrow would read a level of
    dicts by key (a missing key a null, an unknown one dropped), so dicts, every value of a level or one among
    records, are checked as before, and so is a record one field short (negative controls)."""
    rows = copy.deepcopy(accepted_rows())
    records = [_as_record(row, pa.struct(list(ROW_ARROW_SCHEMA))) for row in rows]
    expected = pa.Table.from_pylist(rows, schema=ROW_ARROW_SCHEMA)
    assert rows_table(records, {}).equals(expected)
    at = list(ROW_ARROW_SCHEMA.names).index("verification")

    def with_verification(dicts: dict[int, dict]) -> list[tuple]:
        return [(*r[:at], dicts[i], *r[at + 1:]) if i in dicts else r for i, r in enumerate(records)]

    last = len(records) - 1
    misspelled = {**rows[last]["verification"], "judge_scor": 1.0}
    del misspelled["judge_score"]
    for dicts in ({0: rows[0]["verification"]}, {last: rows[last]["verification"]},
                  {i: row["verification"] for i, row in enumerate(rows)}):
        assert rows_table(with_verification(dicts), {}).equals(expected)
        with pytest.raises(RowShapeError, match=r"unknown key\(s\) \['judge_scor'\]; missing key\(s\) \['judge_sc"):
            rows_table(with_verification({**dicts, last: misspelled}), {})
    content = list(ROW_ARROW_SCHEMA.names).index("content")
    short = (*records[1][:content], [records[1][content][0][:-1], *records[1][content][1:]], *records[1][content + 1:])
    with pytest.raises(RowShapeError, match="missing key"):
        rows_table([records[0], short], {})


def test_many_rows_sharing_tools_convert_to_pyarrows_table():
    """Every row of a shard holds the same few tool dicts: each is converted once, then taken by index."""
    rows = copy.deepcopy(accepted_rows())
    shared = rows[0]["tools"]
    batch = [{**rows[i % len(rows)], "id": f"r{i}", "tools": shared[: 1 + i % len(shared)]} for i in range(300)]
    assert rows_table(batch, {}).equals(pa.Table.from_pylist(batch, schema=ROW_ARROW_SCHEMA))


def test_tool_rows_hold_one_dict_per_tool_and_no_memo_grows_with_the_tasks():
    """Offered tool lists differ from task to task (distractors): each tool's dict is made once per domain and
    shared, and nothing kept per domain grows with the number of distinct lists (a 1M-task worker would hold them
    all)."""
    import random

    from agentfab.flows.rows import tool_rows
    from agentfab.worlds.registry import builtin_domain

    domain = builtin_domain("bank")
    names = sorted(t.spec.name for t in domain.tools)
    tool_rows(domain, names)
    before = {k: len(v) if isinstance(v, dict) else 1 for k, v in domain._memo.items()}  # noqa: SLF001
    rng = random.Random(1)
    lists = [tool_rows(domain, rng.sample(names, 4)) for _ in range(300)]
    after = {k: len(v) if isinstance(v, dict) else 1 for k, v in domain._memo.items()}  # noqa: SLF001
    assert after == before
    by_name = {record_dict(row, "tools")["name"]: row for row in lists[0]}
    assert all(row is tool_rows(domain, [name])[0] for name, row in by_name.items())


def test_a_record_maker_takes_the_contracts_fields_by_name_and_refuses_any_other():
    """Records are tuples in the contract's order: the maker's keywords are the contract's field names, so a
    misspelled or missing one is refused where the row is made (negative controls), whatever order the caller
    names them in."""
    from agentfab.flows.row_arrow import fields_at, record_maker
    from agentfab.schemas.rows import StepRow

    make = record_maker("ground_truth.plan")
    names = fields_at("ground_truth.plan")
    assert names == tuple(StepRow.model_fields)
    values = {name: f"<{name}>" for name in reversed(names)}
    assert record_dict(make(**values), "ground_truth.plan") == {name: f"<{name}>" for name in names}
    with pytest.raises(TypeError, match="expect_eror"):
        make(**{k: v for k, v in values.items() if k != "expect_error"}, expect_eror=None)
    with pytest.raises(TypeError, match="'asks'"):
        make(**{k: v for k, v in values.items() if k != "asks"})
    with pytest.raises(TypeError):
        make(*values.values())  # by position: the order is the maker's business, not the caller's
    with pytest.raises(ValueError, match="no object"):
        record_maker("ground_truth.answers")


def test_a_layout_of_tuple_literals_off_the_contract_is_refused_when_checked():
    """flows/rows.py writes records as tuple literals in the order its LAYOUT declares; the check refuses a
    misspelled, missing or reordered field (negative controls) and accepts the module's own."""
    from agentfab.flows.row_arrow import check_layout
    from agentfab.flows.rows import LAYOUT

    check_layout(LAYOUT)
    step = LAYOUT["ground_truth.plan"]
    with pytest.raises(RowShapeError, match=r"unknown key\(s\) \['expect_eror'\]; missing key\(s\) \['expect_error'\]"):
        check_layout({"ground_truth.plan": (*step[:-1], "expect_eror")})
    with pytest.raises(RowShapeError, match=r"missing key\(s\) \['asks'\]"):
        check_layout({"ground_truth.plan": tuple(n for n in step if n != "asks")})
    with pytest.raises(RowShapeError, match="order differs"):
        check_layout({"verification": tuple(reversed(LAYOUT["verification"]))})


def test_a_provenance_off_the_contract_is_refused_where_the_row_is_made():
    from agentfab.flows.rows import EMPTY_GROUND_TRUTH, ground_truth_record, trajectory_row, verification_record

    provenance = {"recipe_name": "r", "recipe_hash": "h", "seed": 1, "shard": 0, "world_seed": 0, "world_offset": 0,
                  "world": "bank", "engine": "offline", "models": "{}", "negative": None}
    verification = verification_record(passed=True, reasons=[], details=[], judge_score=1.0, judge_rationale="",
                                       stages=[], dedup_key="")

    def row(prov: dict) -> tuple:
        return trajectory_row(row_id="r1", task_id="r1", family="", domain="bank", kind="single", shape=(0, 0, 0),
                              query="", content=[], tools=[], details={}, ground_truth=ground_truth_record(
                                  **EMPTY_GROUND_TRUTH), verification=verification, provenance=prov)

    assert record_dict(row(provenance))["provenance"]["world"] == "bank"
    misspelled = {**{k: v for k, v in provenance.items() if k != "world_seed"}, "world_sed": 0}
    with pytest.raises(RowShapeError, match=r"provenance: unknown key\(s\) \['world_sed'\]; missing key\(s\) \['world_seed'\]"):
        row(misspelled)
    with pytest.raises(RowShapeError, match=r"unknown key\(s\) \['llm_model'\]"):
        row({**provenance, "llm_model": "x"})


def test_a_shards_records_are_the_rows_every_reader_gets_back_and_each_field_holds_its_own_value(tmp_path,
                                                                                                   monkeypatch):
    """The records a shard writes read back the same through pyarrow, polars and `datasets`, validate as
    DatasetRow, and each field holds what it names (a swapped pair of fields of one type would still validate)."""
    import json

    import polars as pl

    import agentfab.flows.shard as shard_module
    from agentfab.flows.recipe import parse_recipe
    from agentfab.flows.shard import ShardJob, build_shard

    written: dict[str, list] = {}
    write_rows_as_built = shard_module.write_rows

    def spy(path, rows, meta):
        written[path.parent.name] = list(rows)
        return write_rows_as_built(path, rows, meta)

    monkeypatch.setattr(shard_module, "write_rows", spy)
    recipe = parse_recipe({"name": "rec", "seed": 3, "records": 80, "shard_size": 80,
                           "worlds": ["bank", "shop", "travel"], "negatives": 0.3})
    build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp_path), str(tmp_path / "out"), 0))
    datasets = pytest.importorskip("datasets")
    for folder in ("shards", "rejected"):
        path = tmp_path / "out" / folder / "shard-00000.parquet"
        back = pq.read_table(path).to_pylist()
        assert all(isinstance(r, tuple) for r in written[folder])
        assert [record_dict(r) for r in written[folder]] == back
        assert pl.read_parquet(path).to_dicts() == back
        assert datasets.Dataset.from_parquet(str(path)).to_list() == back
        assert pq.read_schema(path).remove_metadata().equals(ROW_ARROW_SCHEMA.remove_metadata())
        for row in back:
            DatasetRow.model_validate(row)
            details, gt, v, prov = json.loads(row["details"]), row["ground_truth"], row["verification"], row["provenance"]
            assert (details["task_id"], details["domain"], details["kind"]) == (row["task_id"], row["domain"],
                                                                                 row["kind"])
            assert row["id"].startswith(row["task_id"]) and row["task_id"].startswith("rec-")
            assert (details["world_seed"], details["world_offset"]) == (prov["world_seed"], prov["world_offset"])
            assert row["judge_score"] == v["judge_score"] and v["passed"] == (folder == "shards") == (not v["reasons"])
            assert prov["recipe_name"] == "rec" and prov["engine"] == "offline" and prov["seed"] == 3
            assert (prov["negative"] is not None) == row["id"].endswith("-neg")
            calls = [e for e in row["content"] if e["class_"] == "api_action"]
            assert row["n_calls"] == len(calls) and row["tools_used"] == sorted({e["function"] for e in calls})
            assert all(json.loads(e["kwargs"]) is not None for e in calls)
            assert gt["user_turns"][0] == row["query"] == row["content"][0]["content"]
            assert row["n_turns"] == len(gt["user_turns"]) == len(gt["answers"])
            offered = {t["name"] for t in row["tools"]}
            assert {t["domain"] for t in row["tools"]} == {row["domain"]}
            assert {s["tool"] for s in gt["plan"]} <= offered and set(gt["needed_tools"]) <= offered
            steps = {s["id"] for s in gt["plan"]}
            for step in gt["plan"]:
                assert set(step["depends_on"]) <= steps and isinstance(json.loads(step["arguments"]), dict)
                assert all("=" in b for b in step["bindings"])
            for change in gt["state_changes"]:
                assert change["before"] is not None or change["after"] is not None
