"""The command line: --help everywhere, one-line errors with exit code 2 and no traceback for user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentfab.flows.cli import main

COMMANDS = ["build", "validate", "export", "schema", "inspect", "show", "import", "tools"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_explains_itself(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage: main " + command in result.output or f"Usage: agentfab {command}" in result.output
    assert len(result.output.splitlines()) > 5


def test_top_level_help_lists_the_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentfab", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_a_bad_recipe_is_one_error_line_and_exit_code_2(tmp_path: Path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("name: bad\nrecords: 10\nworlds: [bank]\ntasks: {depth: {max: 9}}\n")
    result = _run("build", str(recipe), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert "error: bad.yaml: tasks.depth.max: must be <= 6, got 9" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_recipe_file_says_what_to_try(tmp_path: Path):
    result = _run("build", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert result.returncode == 2 and "no such recipe file" in result.stderr and "Traceback" not in result.stderr


def test_a_different_recipe_on_an_existing_build_is_refused_without_overwrite(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "build.json").write_text(json.dumps({"recipe_hash": "f" * 64}))
    (out / "keep.txt").write_text("precious")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\nrecords: 10\nworlds: [bank]\n")
    result = _run("build", str(recipe), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert "holds a build of a different recipe" in result.stderr and "--overwrite" in result.stderr
    assert (out / "keep.txt").read_text() == "precious"


def test_schema_check_passes_on_the_committed_files():
    result = CliRunner().invoke(main, ["schema", "--check"])
    assert result.exit_code == 0, result.output


def test_tools_converts_an_openapi_document_and_refuses_remote_refs(tmp_path: Path):
    doc = {"openapi": "3.0.3", "info": {"title": "Pets", "version": "1"}, "paths": {"/pets/{id}": {"get": {
        "operationId": "getPet", "parameters": [{"name": "id", "in": "path", "required": True,
                                                 "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"name": {"type": "string"}}}}}}}}}}}
    (tmp_path / "pets.json").write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["tools", str(tmp_path / "pets.json"), "--format", "openapi"])
    assert result.exit_code == 0, result.output
    (spec,) = json.loads(result.output)
    assert spec["name"] == "getPet" and spec["parameters"]["required"] == ["id"] and spec["mutates"] is False
    doc["paths"]["/pets/{id}"]["get"]["parameters"][0]["schema"] = {"$ref": "https://example.com/s.json"}
    (tmp_path / "remote.json").write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["tools", str(tmp_path / "remote.json"), "--format", "openapi"])
    assert result.exit_code == 2 and "error:" in result.output


def test_inspect_show_and_export_work_from_the_command_line(tmp_path: Path):
    from fixtures.small_builds import make_build

    build = make_build(tmp_path / "b", {"name": "cli", "seed": 1, "records": 60, "shard_size": 60,
                                        "worlds": ["bank"], "negatives": 0.5})
    runner = CliRunner()
    summary = runner.invoke(main, ["inspect", str(build), "--html", str(tmp_path / "r.html")])
    assert summary.exit_code == 0, summary.output
    assert "accepted" in summary.output and (tmp_path / "r.html").exists()
    row_id = json.loads((build / "manifest.json").read_text())["name"] + "-00000-000000"
    shown = runner.invoke(main, ["show", str(build), row_id])
    assert shown.exit_code == 0 and "User:" in shown.output and "Verdict:" in shown.output
    missing = runner.invoke(main, ["show", str(build), "no-such-row"])
    assert missing.exit_code == 2
    exported = runner.invoke(main, ["export", str(build), "--format", "adp-jsonl", "--out", str(tmp_path / "a.jsonl")])
    assert exported.exit_code == 0 and "adp-jsonl records" in exported.output
    bad = runner.invoke(main, ["export", str(build), "--format", "openai", "--out", str(tmp_path / "o.jsonl"),
                               "--where", "__import__('os')"])
    assert bad.exit_code == 2 and "error:" in bad.output and not (tmp_path / "o.jsonl").exists()
    validated = runner.invoke(main, ["validate", str(build), "--rejected"])
    assert validated.exit_code == 0, validated.output
