"""Exporters: every format from hand-built rows against golden files, and each format's own rules.

Regenerate the golden files with AGENTFAB_UPDATE_GOLDEN=1 and read the diff by eye against
shared/reference/formats.md before committing it.
"""

from __future__ import annotations

import json
from collections import Counter
import os
import re
from pathlib import Path

import pytest
from rows import accepted_rows, rejected_parallel_row, sample_rows, single_call_row

from agentfab.formats.export import FORMATS, write_export
from agentfab.formats.export.adp import row_to_trajectory, trajectory_to_events
from agentfab.formats.export.chat import SkipRow
from agentfab.formats.export.dpo import dpo_features, export_pairs
from agentfab.formats.export.hf import hf_features
from agentfab.formats.export.openai_chat import check_openai_line
from agentfab.formats.export.sharegpt import turn_order_problem
from agentfab.schemas.trajectory import ADP_RELEASED_VERSIONS, ADP_SCHEMA_VERSION, Trajectory

GOLDEN = Path(__file__).parent / "golden" / "export"
UPDATE = os.environ.get("AGENTFAB_UPDATE_GOLDEN") == "1"


def rows_for(fmt: str) -> list[dict]:
    return sample_rows() if fmt == "dpo" else accepted_rows()


def export_lines(tmp_path: Path, fmt: str, rows: list[dict] | None = None, *, reasoning: bool = True) -> list[dict]:
    out = tmp_path / f"{fmt}.jsonl"
    write_export(rows_for(fmt) if rows is None else rows, fmt, out, reasoning=reasoning)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def descriptions(rows: list[dict]) -> list[str]:
    return [e["description"] for r in rows for e in r["content"] if e.get("description")]


# --- golden files ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_each_format_matches_its_golden_file(tmp_path, fmt):
    out = tmp_path / f"{fmt}.jsonl"
    report = write_export(rows_for(fmt), fmt, out)
    text = out.read_text(encoding="utf-8")
    golden = GOLDEN / f"{fmt}.jsonl"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}; run with AGENTFAB_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8")
    assert report.records == len(text.splitlines()) == (1 if fmt == "dpo" else 4)
    assert "José Núñez" in text, "non-ASCII text is written as is"


def test_an_export_is_the_same_bytes_every_time(tmp_path):
    for fmt in FORMATS:
        first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
        write_export(rows_for(fmt), fmt, first)
        write_export(rows_for(fmt), fmt, second)
        assert first.read_bytes() == second.read_bytes()


# --- openai ------------------------------------------------------------------------------------------------------

def test_every_openai_line_passes_the_format_check(tmp_path):
    for line in export_lines(tmp_path, "openai"):
        assert check_openai_line(line) == []
        assert line["parallel_tool_calls"] is True


def test_openai_parallel_calls_are_one_assistant_message_with_string_arguments(tmp_path):
    line = export_lines(tmp_path, "openai")[1]
    callers = [m for m in line["messages"] if m.get("tool_calls")]
    assert len(callers) == 1 and [c["id"] for c in callers[0]["tool_calls"]] == ["call_1", "call_2"]
    assert all(isinstance(c["function"]["arguments"], str) for c in callers[0]["tool_calls"])
    assert callers[0]["content"].startswith("I will call get_customer and get_balance")
    assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant", "tool", "tool", "assistant"]


def _good_openai_line() -> dict:
    return {
        "messages": [
            {"role": "user", "content": "balance of ACC-1035?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "get_balance", "arguments": '{"account_id":"ACC-1035"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"balance": 3}'},
            {"role": "assistant", "content": "It holds 3."},
        ],
        "tools": [{"type": "function", "function": {"name": "get_balance", "parameters": {"type": "object"}}}],
    }


def _break(how: str) -> dict:
    line = _good_openai_line()
    msgs = line["messages"]
    call_ = msgs[1]["tool_calls"][0]
    if how == "arguments_not_string":
        call_["function"]["arguments"] = {"account_id": "ACC-1035"}
    elif how == "arguments_not_object":
        call_["function"]["arguments"] = "[1, 2]"
    elif how == "arguments_not_json":
        call_["function"]["arguments"] = "{account_id: ACC-1035"
    elif how == "tool_call_duplicate_id":
        msgs[1]["tool_calls"].append(json.loads(json.dumps(call_)))
    elif how == "tool_message_unanswered_call":
        msgs[2]["tool_call_id"] = "c9"
    elif how == "example_missing_assistant_message":
        line["messages"] = [msgs[0]]
    elif how == "unrecognized_role":
        msgs[0]["role"] = "human"
    elif how == "message_unrecognized_key":
        msgs[0]["thoughts"] = "hmm"
    elif how == "missing_content":
        msgs[3]["content"] = ""
    elif how == "missing_messages_list":
        line["messages"] = []
    elif how == "tool_call_unknown_function":
        call_["function"]["name"] = "get_balance_v2"
    elif how == "tool_call_unanswered":
        del msgs[2]
    elif how == "data_type":
        return ["not", "a", "dict"]  # type: ignore[return-value]
    return line


@pytest.mark.parametrize("code", [
    "arguments_not_string", "arguments_not_object", "arguments_not_json", "tool_call_duplicate_id",
    "tool_message_unanswered_call", "example_missing_assistant_message", "unrecognized_role",
    "message_unrecognized_key", "missing_content", "missing_messages_list", "tool_call_unknown_function",
    "tool_call_unanswered", "data_type",
])
def test_a_broken_openai_line_fails_the_check_with_its_code(code):
    assert check_openai_line(_good_openai_line()) == []
    errors = check_openai_line(_break(code))
    assert any(e.split(":")[0] == code for e in errors), errors


def test_a_record_may_end_on_the_assistant_calls_it_trains():
    line = _good_openai_line()
    line["messages"] = line["messages"][:2]
    assert check_openai_line(line) == []


def test_the_openai_exporter_skips_a_row_whose_line_would_fail_the_check(tmp_path):
    row = single_call_row()
    row["content"][-1]["content"] = ""
    report = write_export([row, single_call_row()], "openai", tmp_path / "o.jsonl")
    assert report.records == 1 and report.skipped == {"openai.missing_content": 1}


# --- hf ----------------------------------------------------------------------------------------------------------

def test_hf_export_loads_with_datasets_and_gives_arguments_back_as_dicts(tmp_path):
    datasets = pytest.importorskip("datasets")
    written = export_lines(tmp_path, "hf")
    path = str(tmp_path / "hf.jsonl")
    exact = datasets.load_dataset("json", data_files=path, split="train", features=hf_features(),
                                  cache_dir=str(tmp_path / "cache"))
    assert [dict(r) for r in exact] == written
    inferred = datasets.load_dataset("json", data_files=path, split="train", cache_dir=str(tmp_path / "cache2"))
    assert [dict(r) for r in inferred] == written
    calls = [c for r in inferred for m in r["messages"] for c in (m.get("tool_calls") or [])]
    assert len(calls) == 7
    assert all(isinstance(c["function"]["arguments"], dict) for c in calls)
    assert calls[0]["function"]["arguments"] == {"account_id": "ACC-1035"}


def test_hf_tool_messages_carry_name_and_call_id_and_string_content(tmp_path):
    for line in export_lines(tmp_path, "hf"):
        for msg in line["messages"]:
            if msg["role"] == "tool":
                assert msg["name"] and msg["tool_call_id"].startswith("call_") and isinstance(msg["content"], str)
            for c in msg.get("tool_calls") or []:
                assert c["type"] == "function" and isinstance(c["function"]["arguments"], dict)


def test_tool_schemas_lose_agentfab_annotations_but_keep_the_json_schema(tmp_path):
    tools = export_lines(tmp_path, "hf")[0]["tools"]
    text = json.dumps(tools)
    assert "x-entity" not in text
    assert tools[0]["function"]["parameters"]["properties"]["account_id"]["pattern"] == "^ACC-\\d{4}$"


# --- sharegpt ----------------------------------------------------------------------------------------------------

def _function_call_json(value: str):
    return json.loads(re.sub(r"^<think>\n.*?\n</think>\n\n", "", value, flags=re.S))


def test_sharegpt_turns_alternate_as_llama_factory_requires(tmp_path):
    for line in export_lines(tmp_path, "sharegpt"):
        turns = line["conversations"]
        assert turn_order_problem(turns) is None
        assert {t["from"] for t in turns[0::2]} <= {"human", "observation"}
        assert {t["from"] for t in turns[1::2]} <= {"gpt", "function_call"}
        assert isinstance(json.loads(line["tools"]), list) and line["system"]
        for turn in turns:
            if turn["from"] == "function_call":
                calls = _function_call_json(turn["value"])
                for c in calls if isinstance(calls, list) else [calls]:
                    assert set(c) == {"name", "arguments"} and isinstance(c["arguments"], dict)


def test_sharegpt_parallel_calls_are_one_turn_and_their_results_one_observation(tmp_path):
    turns = export_lines(tmp_path, "sharegpt")[1]["conversations"]
    assert [t["from"] for t in turns] == ["human", "function_call", "observation", "gpt"]
    assert [c["name"] for c in _function_call_json(turns[1]["value"])] == ["get_customer", "get_balance"]
    assert [r.get("customer_id", r.get("account_id")) for r in json.loads(turns[2]["value"])] == ["CUS-130", "ACC-1035"]


def test_sharegpt_folds_reasoning_into_the_call_turn_or_drops_it(tmp_path):
    with_thought = export_lines(tmp_path, "sharegpt")[0]["conversations"][1]["value"]
    assert with_thought.startswith("<think>\nI will call get_balance.\n</think>\n\n")
    without = export_lines(tmp_path, "sharegpt", reasoning=False)[0]["conversations"][1]["value"]
    assert json.loads(without) == {"name": "get_balance", "arguments": {"account_id": "ACC-1035"}}


def test_sharegpt_writes_its_dataset_info_entry_and_keeps_other_entries(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"other": {"file_name": "o.json"}}))
    report = write_export(accepted_rows(), "sharegpt", tmp_path / "agent_train.jsonl")
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert report.sidecars == (tmp_path / "dataset_info.json",)
    assert info == {
        "other": {"file_name": "o.json"},
        "agent_train": {"file_name": "agent_train.jsonl", "formatting": "sharegpt",
                        "columns": {"messages": "conversations", "system": "system", "tools": "tools"}},
    }


def test_a_row_llama_factory_would_drop_is_refused_with_a_reason(tmp_path):
    row = single_call_row()
    row["content"].append({**row["content"][-1], "content": "Anything else?"})  # two gpt turns in a row
    report = write_export([row], "sharegpt", tmp_path / "s.jsonl")
    assert report.records == 0 and report.skipped == {"sharegpt.turn_order": 1}


# --- hermes ------------------------------------------------------------------------------------------------------

def test_hermes_calls_and_results_are_tagged_json_blocks(tmp_path):
    for line in export_lines(tmp_path, "hermes"):
        turns = line["conversations"]
        assert turns[0]["from"] == "system" and {t["from"] for t in turns} <= {"system", "human", "gpt", "tool"}
        tools = json.loads(re.search(r"<tools>\n(.*)\n</tools>", turns[0]["value"], re.S).group(1))
        assert all(t["type"] == "function" for t in tools)
        for i, turn in enumerate(turns[1:], start=1):
            calls = [json.loads(b) for b in re.findall(r"<tool_call>\n(.*?)\n</tool_call>", turn["value"], re.S)]
            assert turn["from"] == "gpt" or not calls
            if calls:
                responses = re.findall(r"<tool_response>\n(.*?)\n</tool_response>", turns[i + 1]["value"], re.S)
                assert turns[i + 1]["from"] == "tool" and len(responses) == len(calls)
                assert [json.loads(r)["name"] for r in responses] == [c["name"] for c in calls]
                assert all(isinstance(c["arguments"], dict) for c in calls)


# --- adp ---------------------------------------------------------------------------------------------------------

def test_adp_records_validate_and_turn_back_into_the_stored_events(tmp_path):
    lines = export_lines(tmp_path, "adp-jsonl")
    for row, line in zip(accepted_rows(), lines):
        Trajectory.model_validate(line)
        assert all(isinstance(e["kwargs"], dict) for e in line["content"] if e["class_"] == "api_action")
        assert line["details"]["task_id"] == row["task_id"] and line["details"]["verification"]["passed"] is True
        assert all(v is not None for e in line["content"] for v in e.values())
        assert trajectory_to_events(line) == row["content"]


def test_adp_fills_details_a_row_did_not_store():
    row = single_call_row()
    row["details"] = json.dumps({"task_id": row["task_id"], "world_seed": 3})
    details = row_to_trajectory(row)["details"]
    assert details["world_seed"] == 3 and details["family"] == "fam-balance" and details["depth"] == 1


def test_adp_refuses_a_row_with_a_result_for_no_call():
    row = single_call_row()
    row["content"][2]["tool_call_id"] = "call_9"
    with pytest.raises(SkipRow, match="adp.invalid"):
        row_to_trajectory(row)


# ADP's releases as reference/formats.md lists them (SUPPORTED_SCHEMA_VERSIONS of ADP's newest `version.py`):
# "1.3.2" is not one of them, and ADP's own `Trajectory` refuses every row that declares it.
ADP_RELEASES = ("1.5.0", "1.4.0", "1.3.0", "1.2.0", "1.1.0", "1.0.0")
FORMATS_MD = Path(__file__).resolve().parents[2] / "shared" / "reference" / "formats.md"


def test_adp_rows_declare_the_newest_released_adp_version(tmp_path):
    assert ADP_RELEASED_VERSIONS == ADP_RELEASES and ADP_SCHEMA_VERSION == ADP_RELEASES[0]
    if FORMATS_MD.exists():  # the shared reference, next to the repository in the workspace
        listed = re.search(r"SUPPORTED_SCHEMA_VERSIONS = \(([^)]*)\)", FORMATS_MD.read_text()).group(1)
        assert tuple(re.findall(r'"([0-9.]+)"', listed)) == ADP_RELEASES
    old = single_call_row() | {"schema_version": "1.3.2"}  # a row of an earlier build
    assert {line["schema_version"] for line in export_lines(tmp_path, "adp-jsonl", [old])} == {"1.5.0"}


def test_adp_trajectory_refuses_a_version_adp_never_released():
    trajectory = row_to_trajectory(single_call_row())
    for version in ADP_RELEASES:
        Trajectory.model_validate(trajectory | {"schema_version": version})
    for version in ("1.3.2", "2.0.0", "1.5"):
        with pytest.raises(ValueError, match="schema_version"):
            Trajectory.model_validate(trajectory | {"schema_version": version})


# --- reasoning ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_reasoning_off_removes_every_description(tmp_path, fmt):
    rows = rows_for(fmt)
    call_thought = "I will call get_customer and get_balance in parallel"
    on = export_lines(tmp_path, fmt, rows, reasoning=True)
    off = export_lines(tmp_path, fmt, rows, reasoning=False)
    assert call_thought in json.dumps(on, ensure_ascii=False)
    text = json.dumps(off, ensure_ascii=False)
    for thought in descriptions(rows):
        assert thought not in text
    if fmt == "openai":
        assert all(m["content"] is None for line in off for m in line["messages"] if m.get("tool_calls"))


# --- dpo ---------------------------------------------------------------------------------------------------------

def test_dpo_pairs_an_accepted_and_a_rejected_row_of_one_task(tmp_path):
    datasets = pytest.importorskip("datasets")
    (pair,) = export_lines(tmp_path, "dpo")
    assert [m["role"] for m in pair["prompt"]] == ["system", "user"]
    assert pair["chosen"][0]["role"] == pair["rejected"][0]["role"] == "assistant"
    assert pair["chosen"] != pair["rejected"] and "ACC-1053" in json.dumps(pair["rejected"])
    loaded = datasets.load_dataset("json", data_files=str(tmp_path / "dpo.jsonl"), split="train",
                                   features=dpo_features(), cache_dir=str(tmp_path / "cache"))
    assert dict(loaded[0]) == pair


def test_dpo_writes_only_pairs_with_both_sides_and_never_a_mere_duplicate():
    duplicate = rejected_parallel_row()
    duplicate["verification"]["reasons"] = ["dedup.near_duplicate"]
    orphan = {**rejected_parallel_row(), "task_id": "t-elsewhere", "id": "r-orphan"}
    skipped: Counter = Counter()
    pairs = list(export_pairs(accepted_rows() + [duplicate, orphan], skipped=skipped))
    assert pairs == [] and skipped == {"dpo.duplicate_only": 1, "dpo.no_accepted": 1}


# --- writing -----------------------------------------------------------------------------------------------------

def test_a_failed_export_leaves_the_old_file_and_no_temporary_file(tmp_path):
    out = tmp_path / "train.jsonl"
    out.write_text("old\n")

    def rows():
        yield single_call_row()
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_export(rows(), "openai", out)
    assert out.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]


def test_an_unknown_format_is_named_with_the_choices(tmp_path):
    with pytest.raises(ValueError, match="choose one of adp-jsonl, openai"):
        write_export([], "alpaca", tmp_path / "x.jsonl")


def test_openai_gives_a_failed_call_weight_zero_and_trains_on_the_recovery():
    from agentfab.formats.export.openai_chat import messages
    from fixtures.rows import sample_rows

    rows = [r for r in sample_rows() if any(
        e["source"] == "environment" and (e["content"] or "").startswith('{"error"') for e in r["content"])]
    assert rows, "the fixtures need a row with a failed call"
    msgs = messages(rows[0])
    failed = [m for m in msgs if m.get("weight") == 0]
    assert failed and all(m["role"] == "assistant" and m["tool_calls"] for m in failed)
    retried = [m for m in msgs if m.get("tool_calls") and "weight" not in m]
    assert retried, "the corrected call keeps the default weight"
