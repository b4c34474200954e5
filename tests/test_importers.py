"""Importers: trainer-format files and tool documents in, agentfab events and ToolSpecs out.

Inputs and expected outputs live in tests/golden/import/. Regenerate the expected files with
AGENTFAB_UPDATE_GOLDEN=1 and read the diff by eye before committing it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from agentfab.formats.toolspecs import documents as import_schema
from agentfab.formats.imports.convert import XLAM_NOTE
from agentfab.formats.toolspecs.sources import (ToolImportError, tools_from_json, tools_from_mcp, tools_from_openapi,
                                             xlam_parameters)
from agentfab.formats.imports import ImportFileError, read_records
from agentfab.schemas.rows import EventRow
from agentfab.schemas.tools import ToolSpec
from agentfab.schemas.trajectory import Trajectory

try:
    from agentfab.formats.export import write_export
    from agentfab.formats.export.chat import tool_functions
    from rows import sample_rows
except ImportError as exc:  # the exporters are written by another helper; round trips need them
    write_export = None
    EXPORTERS_MISSING = f"agentfab.formats.export (write_export) or tests/fixtures/rows.py is not importable: {exc}"
else:
    EXPORTERS_MISSING = ""

GOLDEN = Path(__file__).parent / "golden" / "import"
UPDATE = os.environ.get("AGENTFAB_UPDATE_GOLDEN") == "1"


def check_golden(name: str, value: object) -> None:
    text = json.dumps(value, indent=1, ensure_ascii=False) + "\n"
    golden = GOLDEN / name
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}; run with AGENTFAB_UPDATE_GOLDEN=1"
    assert json.loads(text) == json.loads(golden.read_text(encoding="utf-8"))


# --- trajectory formats ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, fmt", [("openai.jsonl", "openai"), ("sharegpt.json", "sharegpt"),
                                         ("hermes.jsonl", "hermes"), ("xlam.json", "xlam")])
def test_each_format_imports_as_its_golden_file(source, fmt):
    result = read_records(GOLDEN / source, fmt)
    assert result.errors == []
    for record in result.records:
        Trajectory.model_validate({"id": record.id, "content": record.events})
        assert all(t.source == "json" for t in record.tools)
    check_golden(f"{source.split('.')[0]}.expected.json", result.to_dict())


def test_openai_text_next_to_calls_is_the_first_calls_description():
    first, second, chat = read_records(GOLDEN / "openai.jsonl", "openai").records
    calls = [e for e in first.events if e["class_"] == "api_action"]
    assert [c["description"] for c in calls] == ["Both cities are independent, so I will ask in parallel.", None]
    assert [c["kwargs"] for c in calls] == [{"city": "Oslo"}, {"city": "Lima", "unit": "c"}]
    results = [e for e in first.events if e.get("source") == "environment"]
    assert [(r["tool_call_id"], r["name"]) for r in results] == [("call_a", "get_weather"), ("call_b", "get_weather")]
    assert first.system == "You are a helpful assistant." and first.id == "openai-1"
    assert second.system == "Book tables politely."  # developer role, content given as text parts
    assert second.events[0] == {"class_": "text_observation", "source": "user", "content": "Book Noma for two."}
    assert second.events[-2]["content"] == "booked: table 7 at 19:00"  # plain-text results stay text
    assert [e["class_"] for e in chat.events] == ["text_observation", "message_action"]
    assert chat.tools == [] and chat.system is None


def test_sharegpt_parallel_results_pair_with_minted_call_ids_in_order():
    single, parallel = read_records(GOLDEN / "sharegpt.json", "sharegpt").records
    assert single.tools[0].name == "generate_password" and single.system == "You are a helpful assistant."
    assert parallel.id == "par-1"
    events = parallel.events
    assert [(e["function"], e["kwargs"], e["tool_call_id"]) for e in events[1:3]] == [
        ("get_weather", {"city": "Oslo"}, "call_1"), ("get_weather", {"city": "Lima"}, "call_2")]
    assert events[1]["description"] == "Two independent lookups."  # the <think> block before the JSON
    assert [(e["tool_call_id"], e["content"]) for e in events[3:5]] == [("call_1", '{"temp":-3}'),
                                                                        ("call_2", "sunny, 19 C")]


def test_hermes_python_repr_payloads_import():
    records = {r.id: r for r in read_records(GOLDEN / "hermes.jsonl", "hermes").records}
    repr_record = records["h-repr"]
    assert [t.name for t in repr_record.tools] == ["get_stock_price"]
    calls = [e for e in repr_record.events if e["class_"] == "api_action"]
    assert [c["kwargs"] for c in calls] == [{"symbol": "TSLA", "realtime": True}, {"symbol": "AAPL", "realtime": True}]
    results = [e for e in repr_record.events if e.get("source") == "environment"]
    assert [r["content"] for r in results] == ['{"symbol":"TSLA","price":251.3,"halted":false}',
                                               '{"symbol":"AAPL","price":null}']
    assert records["h-json"].events[1]["description"] == "Let me check."  # text before <tool_call> is reasoning


def test_a_hermes_payload_is_read_as_a_literal_never_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    record = {"conversations": [{"from": "human", "value": "hi"},
                                {"from": "gpt", "value": f"<tool_call>\n{payload}\n</tool_call>"}]}
    path = tmp_path / "evil.jsonl"
    path.write_text(json.dumps(record) + "\n")
    result = read_records(path, "hermes")
    assert result.records == [] and "neither JSON nor a Python literal" in result.errors[0].reason
    assert not marker.exists()


def test_xlam_tools_become_json_schema_and_calls_stay_unanswered():
    records = read_records(GOLDEN / "xlam.json", "xlam").records
    assert [r.id for r in records] == ["7", "8"]
    for record in records:
        assert record.notes == [XLAM_NOTE]
        assert not [e for e in record.events if e.get("source") == "environment"]
        for tool in record.tools:
            Draft202012Validator.check_schema(tool.parameters)
    average, palindrome = records[1].tools
    props = average.parameters["properties"]
    assert props["numbers"] == {"type": "array", "items": {"type": "number"}, "description": "The numbers."}
    assert average.parameters["required"] == ["numbers"]  # `, optional`, Optional[...] and defaults are optional
    assert palindrome.parameters["required"] == ["text"]
    assert palindrome.parameters["properties"]["ignore_case"]["type"] == "boolean"
    assert records[0].tools[0].parameters.get("required") is None  # a default makes `type` optional
    Draft202012Validator(average.parameters).validate(records[1].events[1]["kwargs"])


def test_xlam_type_strings_map_to_json_types():
    schema = xlam_parameters({"a": {"type": "int"}, "b": {"type": "float, optional"}, "c": {"type": "List[str]"},
                              "d": {"type": "Dict[str, int]"}, "e": {"type": "Tuple[int, int]"},
                              "f": {"type": "str", "required": False}}, "test")
    Draft202012Validator.check_schema(schema)
    assert [schema["properties"][k].get("type") for k in "abcdef"] == [
        "integer", "number", "array", "object", "array", "string"]
    assert schema["required"] == ["a", "c", "d", "e"]


def test_bad_records_are_reported_by_line_and_the_good_ones_kept():
    result = read_records(GOLDEN / "malformed.jsonl", "openai")
    assert [r.line for r in result.records] == [1, 6]  # line 5 is blank
    reasons = {e.line: e.reason for e in result.errors}
    assert sorted(reasons) == [2, 3, 4]
    assert reasons[2].startswith("not JSON")
    assert "'call_zz'" in reasons[3] and "no earlier, unanswered call" in reasons[3]
    assert "arguments" in reasons[4] and "not JSON" in reasons[4]


def test_bad_records_in_a_json_array_are_reported_by_index_plus_one():
    result = read_records(GOLDEN / "malformed_sharegpt.json", "sharegpt")
    assert [r.line for r in result.records] == [1, 5]
    reasons = {e.line: e.reason for e in result.errors}
    assert sorted(reasons) == [2, 3, 4]
    assert "JSON object" in reasons[2]
    assert "2 parallel calls" in reasons[3]
    assert "no unanswered call" in reasons[4]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(values=st.lists(JSON_VALUES, max_size=6), chunk=st.sampled_from([1, 2, 3, 7, 64]),
       ascii_only=st.booleans(), indent=st.sampled_from([None, 1]), bom=st.booleans())
def test_a_json_array_streamed_in_any_chunks_reads_as_json_loads_does(tmp_path_factory, values, chunk, ascii_only,
                                                                       indent, bom):
    from agentfab.formats.imports.json_array import iter_array

    path = tmp_path_factory.mktemp("array") / "a.json"
    path.write_text(("\ufeff" if bom else "") + json.dumps(values, ensure_ascii=ascii_only, indent=indent),
                    encoding="utf-8", errors="surrogatepass")
    streamed = [v for _, v in iter_array(path, chunk)]  # elements and strings cut at every possible place
    assert json.dumps(streamed) == json.dumps(json.loads(path.read_text(encoding="utf-8-sig", errors="surrogatepass")))


def test_an_unknown_format_or_file_kind_is_refused(tmp_path):
    with pytest.raises(ImportFileError, match="unknown import format"):
        read_records(GOLDEN / "openai.jsonl", "alpaca")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(ImportFileError, match=".jsonl"):
        read_records(tmp_path / "x.csv", "openai")
    (tmp_path / "x.json").write_text('{"messages": []}\n{"messages": []}\n')
    with pytest.raises(ImportFileError, match="name it .jsonl"):
        read_records(tmp_path / "x.json", "openai")


def test_imported_events_convert_to_dataset_row_events():
    record = read_records(GOLDEN / "openai.jsonl", "openai").records[0]
    content = record.row_content()
    assert all(EventRow.model_validate(e) for e in content)
    assert content[1]["kwargs"] == '{"city":"Oslo"}' and content[1]["language"] is None



def test_a_tool_name_no_trainer_accepts_is_renamed_with_its_calls(tmp_path):
    record = {"messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "function_call": {"name": "get-weather", "arguments": "{\"city\": \"Oslo\"}"}},
        {"role": "function", "name": "get-weather", "content": "-3"},
        {"role": "assistant", "content": "It is -3."}],
        "functions": [{"name": "get-weather", "description": "Weather.", "parameters": {"type": "object"}}]}
    path = tmp_path / "legacy.jsonl"
    path.write_text(json.dumps(record) + "\n")
    (imported,) = read_records(path, "openai").records
    assert [t.name for t in imported.tools] == ["get_weather"]
    assert [(e["function"], e["kwargs"]) for e in imported.events if e["class_"] == "api_action"] == [
        ("get_weather", {"city": "Oslo"})]
    assert imported.events[2]["name"] == "get_weather" and imported.events[2]["content"] == "-3"
    assert imported.notes == ["calls to 'get-weather' renamed 'get_weather', a valid function name"]

# --- round trips through the exporters ---------------------------------------------------------------------------

def carried(events: list[dict], *, descriptions: bool) -> list[tuple]:
    """What every chat format carries: turns in order, calls with arguments, results paired by position."""
    order: dict[str, int] = {}
    out: list[tuple] = []
    for e in events:
        if e["class_"] == "api_action":
            order[e["tool_call_id"]] = len(order)
            kwargs = json.loads(e["kwargs"]) if isinstance(e["kwargs"], str) else e["kwargs"]
            out.append(("call", e["function"], kwargs, e["description"] if descriptions else None))
        elif e["class_"] == "text_observation" and e["source"] == "environment":
            out.append(("result", order[e["tool_call_id"]], e["name"], e["content"]))
        elif e["class_"] == "text_observation":
            out.append(("user", e["content"]))
        else:
            out.append(("reply", e["content"]))
    return out


@pytest.mark.skipif(write_export is None, reason=EXPORTERS_MISSING or "exporters present")
@pytest.mark.parametrize("fmt", ["openai", "hf", "sharegpt", "hermes"])
@pytest.mark.parametrize("reasoning", [True, False])
def test_export_then_import_gives_back_what_the_format_carries(tmp_path, fmt, reasoning):
    rows = sample_rows()
    out = tmp_path / f"{fmt}.jsonl"
    report = write_export(rows, fmt, out, reasoning=reasoning)
    assert report.records == len(rows)
    result = read_records(out, fmt)
    assert result.errors == []
    assert len(result.records) == len(rows)
    for row, record in zip(rows, result.records):
        # Chat formats keep the thought before calls (when exported with reasoning), never the one behind a reply.
        assert carried(record.events, descriptions=True) == carried(row["content"], descriptions=reasoning)
        expected_tools = [(f["name"], f["description"], f["parameters"]) for f in tool_functions(row)]
        assert [(t.name, t.description, t.parameters) for t in record.tools] == expected_tools
        if fmt == "hermes":
            assert record.id == row["id"]


# --- OpenAPI ---------------------------------------------------------------------------------------------------

def test_a_petstore_document_imports_one_tool_per_operation():
    tools = {t.name: t for t in tools_from_openapi(GOLDEN / "petstore.yaml")}
    assert list(tools) == ["listPets", "createPet", "pets_show_by_id", "delete_pets_petId", "updatePet"]
    assert {t.domain for t in tools.values()} == {"swagger_petstore"}
    assert {n for n, t in tools.items() if t.mutates} == {"createPet", "delete_pets_petId", "updatePet"}
    listing = tools["listPets"].parameters
    assert set(listing["properties"]) == {"limit", "X-Request-ID"}  # the cookie is not an argument
    assert "required" not in listing
    assert tools["pets_show_by_id"].parameters["required"] == ["petId"]  # path-item parameters, always required
    create = tools["createPet"].parameters
    assert set(create["properties"]) == {"name", "tag", "category"} and create["required"] == ["name"]
    assert create["properties"]["tag"]["type"] == ["string", "null"]  # OpenAPI 3.0 nullable
    assert set(tools["updatePet"].parameters["properties"]) == {"petId", "body"}  # an array body stays whole
    assert tools["createPet"].returns["allOf"][1]["required"] == ["id"]
    for tool in tools.values():
        assert tool.source == "openapi"
        Draft202012Validator.check_schema(tool.parameters)
        Draft202012Validator.check_schema(tool.returns)
    check_golden("petstore.expected.json", [t.model_dump(mode="json") for t in tools.values()])


def _doc(schema: dict, components: dict | None = None) -> dict:
    return {"openapi": "3.1.0", "info": {"title": "T"}, "components": {"schemas": components or {}},
            "paths": {"/x": {"post": {"operationId": "make", "requestBody": {"required": True, "content": {
                "application/json": {"schema": schema}}}, "responses": {"200": {"description": "ok"}}}}}}


@pytest.mark.parametrize("ref", ["https://example.com/schemas.yaml#/Pet", "http://169.254.169.254/latest",
                                 "file:///etc/passwd", "pet.yaml#/Pet", "./pet.json", "../shared/pet.yaml"])
def test_a_remote_ref_raises_and_is_never_fetched(monkeypatch, ref):
    def no_network(*args, **kwargs):
        pytest.fail("the importer opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    doc = _doc({"type": "object", "properties": {"pet": {"$ref": ref}}})
    with pytest.raises(ToolImportError, match="never fetched") as err:
        tools_from_openapi(doc)
    assert ref in str(err.value)


def test_a_self_referencing_schema_terminates_as_defs():
    children = {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
    node = {"type": "object", "properties": {"value": {"type": "integer"}, "children": children}}
    (tool,) = tools_from_openapi(_doc({"$ref": "#/components/schemas/Node"}, {"Node": node}))
    params = tool.parameters
    assert params["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert params["$defs"]["Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    Draft202012Validator.check_schema(params)
    validator = Draft202012Validator(params)
    assert validator.is_valid({"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]})
    assert not validator.is_valid({"value": 1, "children": [{"value": "two"}]})


def test_mutually_recursive_and_alias_cycles_terminate():
    a = {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}}
    b = {"type": "object", "properties": {"a": {"$ref": "#/components/schemas/A"}}}
    (tool,) = tools_from_openapi(_doc({"$ref": "#/components/schemas/A"}, {"A": a, "B": b}))
    assert Draft202012Validator(tool.parameters).is_valid({"b": {"a": {"b": {}}}})
    aliases = {"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}}
    with pytest.raises(ToolImportError, match="never reaches a schema"):
        tools_from_openapi(_doc({"$ref": "#/components/schemas/A"}, aliases))


def _nested(levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"inner": schema}}
    return schema


def test_a_10000_level_schema_fails_fast_with_a_clear_error(tmp_path):
    start = time.perf_counter()
    with pytest.raises(ToolImportError, match="nested more than 32 levels"):
        tools_from_openapi(_doc(_nested(10_000)))
    text = '{"openapi": "3.1.0", "paths": {"/x": {"post": {"requestBody": {"content": {"application/json": ' \
           '{"schema": ' + '{"properties": {"a": ' * 10_000 + "{}" + "}}" * 10_000 + "}}}}}}}"
    path = tmp_path / "deep.json"
    path.write_text(text)
    with pytest.raises(ToolImportError, match="nested"):
        tools_from_openapi(path)
    assert time.perf_counter() - start < 30  # a guard against expansion (minutes), not a speed target: load varies


def test_refs_that_multiply_hit_the_node_limit_quickly():
    components = {"L0": {"type": "string"}}
    for i in range(1, 21):  # 2**20 leaves once expanded, in only 20 levels
        ref = {"$ref": f"#/components/schemas/L{i - 1}"}
        components[f"L{i}"] = {"type": "object", "properties": {"left": ref, "right": ref}}
    start = time.perf_counter()
    with pytest.raises(ToolImportError, match="50,000 nodes"):
        tools_from_openapi(_doc({"$ref": "#/components/schemas/L20"}, components))
    assert time.perf_counter() - start < 30  # a guard against expansion (minutes), not a speed target: load varies


def test_a_yaml_alias_bomb_hits_the_node_limit(tmp_path):
    lines = ['openapi: "3.1.0"', "info: {title: bomb}", "x-bomb:", '  l0: &l0 ["lol","lol","lol","lol","lol"]']
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 5)}]" for i in range(1, 12)]
    lines += ["paths:", "  /x:", "    get:", "      parameters:",
              "        - {name: q, in: query, schema: {type: string, default: *l11}}", "      responses: {}"]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(ToolImportError, match="nodes"):
        tools_from_openapi(path)
    assert time.perf_counter() - start < 30  # a guard against expansion (minutes), not a speed target: load varies


def test_an_oversized_document_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(import_schema, "MAX_DOCUMENT_BYTES", 1000)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(_doc({"type": "object", "description": "x" * 2000})))
    with pytest.raises(ToolImportError, match="byte limit"):
        tools_from_openapi(path)


def test_swagger_2_is_refused_with_a_way_out():
    with pytest.raises(ToolImportError, match="swagger2openapi"):
        tools_from_openapi({"swagger": "2.0", "paths": {}})


# --- MCP and JSON tool lists -----------------------------------------------------------------------------------

def test_an_mcp_tools_list_imports():
    tools = tools_from_mcp(GOLDEN / "mcp_tools_list.json")
    assert [t.name for t in tools] == ["get_weather", "delete_file", "echo"]  # get-weather is no function name
    assert [t.mutates for t in tools] == [False, True, True]  # only readOnlyHint: true reads; unknown mutates
    assert {t.source for t in tools} == {"mcp"}
    assert tools[0].returns["required"] == ["temperature", "conditions"]
    assert tools[2].parameters["$defs"] == {"Text": {"type": "string"}} and tools[2].description == "echo"
    bare = json.loads((GOLDEN / "mcp_tools_list.json").read_text())["result"]
    assert tools_from_mcp(bare, domain="weather")[0].domain == "weather"


def test_an_mcp_error_or_remote_ref_is_refused():
    with pytest.raises(ToolImportError, match="error"):
        tools_from_mcp({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "Method not found"}})
    remote = {"tools": [{"name": "t", "inputSchema": {"type": "object", "properties": {
        "x": {"$ref": "https://example.com/x.json"}}}}]}
    with pytest.raises(ToolImportError, match="never fetched"):
        tools_from_mcp(remote)


def test_json_tool_lists_import_openai_tools_and_toolspecs(tmp_path):
    spec = ToolSpec(name="freeze", description="Freeze an account.", domain="bank", source="builtin", mutates=True,
                    parameters={"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
                    returns={"type": "object"})
    openai_tool = {"type": "function", "function": {"name": "lookup", "description": "Look up.",
                                                    "parameters": {"type": "object", "properties": {}}}}
    path = tmp_path / "My Tools.json"
    path.write_text(json.dumps([spec.model_dump(), openai_tool]))
    back, lookup = tools_from_json(path)
    assert back == spec
    assert (lookup.source, lookup.domain, lookup.mutates) == ("json", "my_tools", True)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "x", "description": "d", "parameters": {"type": "object",
                                                                               "properties": {"a": {"type": 5}}}}]))
    with pytest.raises(ToolImportError, match="not valid JSON Schema"):
        tools_from_json(bad)
