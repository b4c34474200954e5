"""The data contracts: committed JSON Schemas match the models, and the Parquet schema is derived from them."""

from __future__ import annotations

import json

import jsonschema
import pytest

from agentfab.schemas.publish import JSON_DIR, PUBLISHED, rendered, stale
from agentfab.schemas.rows import ROW_ARROW_SCHEMA, DatasetRow
from agentfab.schemas.trajectory import Trajectory


def test_committed_json_schemas_match_the_models():
    assert stale() == [], "run `agentfab schema --write` and commit the result"


def test_a_changed_model_is_reported_as_drift(tmp_path):
    for name, text in rendered().items():
        (tmp_path / name).write_text(text)
    assert stale(tmp_path) == []
    doc = json.loads((tmp_path / "dataset_row.schema.json").read_text())
    doc["properties"]["new_column"] = {"type": "string"}
    (tmp_path / "dataset_row.schema.json").write_text(json.dumps(doc))
    assert stale(tmp_path) == ["dataset_row.schema.json"]


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_committed_schemas_are_valid_json_schema(name):
    schema = json.loads((JSON_DIR / f"{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_parquet_schema_has_exactly_the_row_model_fields():
    assert ROW_ARROW_SCHEMA.names == list(DatasetRow.model_fields)
    content = ROW_ARROW_SCHEMA.field("content").type.value_type
    assert [content.field(i).name for i in range(content.num_fields)][0] == "class_"
    for name in ("domain", "kind", "depth", "width", "n_turns", "n_calls", "judge_score"):
        assert not str(ROW_ARROW_SCHEMA.field(name).type).startswith(("struct", "list"))


def test_adp_rules_hold_in_the_trajectory_model():
    good = {"id": "x", "content": [
        {"class_": "text_observation", "source": "user", "content": "hi"},
        {"class_": "api_action", "function": "f", "kwargs": {}, "tool_call_id": "c1"},
        {"class_": "text_observation", "source": "environment", "content": "{}", "tool_call_id": "c1"},
        {"class_": "message_action", "content": "done"}]}
    Trajectory.model_validate(good)
    bad = json.loads(json.dumps(good))
    bad["content"][2]["source"] = "user"
    with pytest.raises(ValueError, match="user turn cannot carry a tool_call_id"):
        Trajectory.model_validate(bad)
    orphan = json.loads(json.dumps(good))
    orphan["content"][2]["tool_call_id"] = "c7"
    with pytest.raises(ValueError, match="no earlier, unanswered call"):
        Trajectory.model_validate(orphan)
