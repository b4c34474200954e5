"""Rows that copy a public function-calling test set (BFCL, read from the bfcl-eval wheel) are rejected as
dedup.contaminated; rows that merely look alike are not."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from agentfab.flows.benchmark_sets import contamination_index
from agentfab.flows.build import build
from agentfab.flows.cli import main

# real BFCL v4 test queries (simple_python_15, _22, _29, _36)
BFCL_QUERIES = [
    "Calculate the area under the curve from x = -2 to x = 3 for the function y = x^3 using simpson method.",
    "Calculate the greatest common divisor of two given numbers, for example 12 and 15.",
    "What is the final speed of an object dropped from rest after falling for 5 seconds if we neglect air resistance?",
    "Find the shortest driving distance between New York City and Washington D.C.",
]
OWN_PROMPTS = [
    "Name three rivers that flow through more than two countries in Europe.",
    "Which planet in our solar system has the longest day measured in Earth hours?",
    "List the primary colours used in traditional painting and explain why.",
    "How many bones does an adult human hand contain in total?",
]


@pytest.fixture(scope="module")
def index():
    return contamination_index()


def _quiz(tmp: Path, prompts: list[str]) -> Path:
    (tmp / "quiz.yaml").write_text(
        "name: quiz\ndescription: A quiz bank of practice questions.\nentities:\n  Question:\n"
        "    id_format: \"Q-{n:03d}\"\n    count: 20\n    description: A practice question.\n    fields:\n"
        f"      prompt: {{type: string, searchable: true, description: The question as asked, "
        f"choices: {json.dumps(prompts)}}}\n"
        "      level: {type: integer, min: 1, max: 5, aggregate: [max], description: Difficulty level}\n")
    recipe = tmp / "quiz-recipe.yaml"
    recipe.write_text("name: quiz\nseed: 3\nrecords: 80\nshard_size: 40\nworlds: [{declared: quiz.yaml}, bank]\n"
                      "negatives: 0\n")
    return recipe


def _quoting(df: pl.DataFrame, texts: list[str]) -> pl.DataFrame:
    users = df.select("id", "verification", pl.col("ground_truth").struct.field("user_turns"), "query")
    hit = pl.lit(False)
    for t in texts:
        hit = hit | pl.col("query").str.contains(t, literal=True) | \
            pl.col("user_turns").list.join("\n").str.contains(t, literal=True)
    return users.filter(hit)


def test_requests_that_copy_bfcl_queries_are_rejected_as_contaminated(prefect_harness, tmp_path: Path):
    out = tmp_path / "quiz"
    manifest = build(_quiz(tmp_path, BFCL_QUERIES), out=out, workers=1)
    accepted = pl.read_parquet(out / "shards" / "*.parquet")
    rejected = pl.read_parquet(out / "rejected" / "*.parquet")
    assert _quoting(accepted, BFCL_QUERIES).height == 0  # no accepted row quotes a test query
    quoting = _quoting(rejected, BFCL_QUERIES)
    codes = quoting["verification"].struct.field("reasons").to_list()
    contaminated = [c for c in codes if "dedup.contaminated" in c]
    assert len(contaminated) >= 3
    # only within-shard duplicates (found before the benchmark check) may carry another code
    assert all("dedup.contaminated" in c or "dedup.near_duplicate" in c or "dedup.exact_duplicate" in c
               for c in codes)
    details = [d for row in quoting["verification"].to_list() for d in row["details"] if "contaminated" in d]
    assert any("bfcl-eval" in d and "simple_python_" in d for d in details)
    report = manifest["decontamination"]
    assert report["status"] == "checked" and report["benchmarks"] == ["bfcl-eval 2026.3.23"]
    every = rejected.filter(pl.col("verification").struct.field("reasons").list.contains("dedup.contaminated"))
    # every one asks about a quiz question (an irrelevant-kind row of the bank world borrows a quiz request)
    assert every.height >= len(contaminated) and every["query"].str.contains("(?i)question").all()
    assert report["contaminated"]["bfcl-eval 2026.3.23"]["request"] == every.height
    assert manifest["reasons"]["dedup.contaminated"]["count"] == every.height
    assert manifest["lineage"][0]["contaminated"] == every.height


def test_the_same_domain_with_its_own_questions_is_clean(prefect_harness, tmp_path: Path):
    out = tmp_path / "own"
    manifest = build(_quiz(tmp_path, OWN_PROMPTS), out=out, workers=1)
    assert manifest["decontamination"]["contaminated"] == {}
    assert "dedup.contaminated" not in manifest["reasons"]
    assert _quoting(pl.read_parquet(out / "shards" / "*.parquet"), OWN_PROMPTS).height > 0


def test_expected_calls_and_function_definitions_of_a_test_item_are_caught(index):
    # simple_python_0: calculate_triangle_area(base=10, height=5[, unit="units"])
    assert index.check([], [("calculate_triangle_area", {"base": 10, "height": 5})], []).test == "calls"
    assert index.check([], [("calculate_triangle_area", {"base": 10, "height": 5, "unit": "units"})], []).test == \
        "calls"
    assert index.check([], [("calculate_triangle_area", {"base": 11, "height": 5})], []) is None
    assert index.check([], [("calculate_triangle_area", {"base": 10, "height": 5, "colour": "red"})], []) is None
    offered = ("calculate_triangle_area", {"type": "object", "properties": {"base": {}, "height": {}, "unit": {}}})
    hit = index.check([], [], [offered])
    assert hit.test == "tools" and "calculate_triangle_area(base,height,unit)" in hit.detail
    assert index.check([], [], [("calculate_triangle_area", {"properties": {"base": {}, "width": {}}})]) is None


def test_sharing_a_stock_phrase_is_not_contamination(index):
    assert index.check(["Find the shortest driving distance between New York City and Washington D.C., then "
                        "book me a table for two"], [], []).test == "request"
    assert index.check(["What is the weather like in Boston today?"], [], []) is None
    assert index.check(["Calculate the area of the triangle on the left of the curve"], [], []) is None


def test_decontaminate_command_cleans_an_imported_dataset(tmp_path: Path):
    source = tmp_path / "chat.jsonl"
    tools = [{"type": "function", "function": {"name": "lookup", "description": "Look a thing up.",
                                               "parameters": {"type": "object", "properties": {
                                                   "q": {"type": "string"}}, "required": ["q"]}}}]
    lines = []
    for text in (BFCL_QUERIES[3], "Look up the opening hours of the city library on Sundays please."):
        lines.append({"messages": [
            {"role": "user", "content": text},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
                "name": "lookup", "arguments": json.dumps({"q": text[:20]})}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "{\"answer\": \"42\"}"},
            {"role": "assistant", "content": "It is 42."}], "tools": tools})
    source.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    cli = CliRunner()
    imported = cli.invoke(main, ["import", str(source), "--format", "openai", "--out", str(tmp_path / "imp")])
    assert imported.exit_code == 0, imported.output
    assert pl.read_parquet(tmp_path / "imp" / "shards" / "*.parquet").height == 2
    result = cli.invoke(main, ["decontaminate", str(tmp_path / "imp")])
    assert result.exit_code == 0, result.output
    assert "checked 2 accepted rows: 1 contaminated" in result.output and "request 1" in result.output
    kept = pl.read_parquet(tmp_path / "imp" / "shards" / "*.parquet")
    assert kept.height == 1 and "library" in kept["query"][0]
    moved = pl.read_parquet(tmp_path / "imp" / "rejected" / "*.parquet")
    assert "dedup.contaminated" in moved["verification"].struct.field("reasons").to_list()[-1]
    again = cli.invoke(main, ["decontaminate", str(tmp_path / "imp")])  # idempotent
    assert "checked 1 accepted rows: 0 contaminated" in again.output
    missing = cli.invoke(main, ["decontaminate", str(tmp_path)])
    assert missing.exit_code == 2 and "no shards/*.parquet" in missing.output
