"""Fault injection on inputs and the machine: hostile YAML and patterns with a time and memory bound, records that
break one at a time, user mistakes that must cost one line, a full disk (a real small tmpfs), the umask, and a
terminal that row text must not drive. (Files, writers and signals: test_faults.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from fault_kit import SMALL, agentfab, one_line_error, write_recipe
from small_builds import make_build, reseal

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))


def _bounded(args: list[str], timeout: float = 60) -> tuple[subprocess.CompletedProcess, float, int]:
    """Run the CLI; return its result, wall seconds and peak resident memory in MB (of that process alone)."""
    probe = ("import resource, subprocess, sys, json; r = subprocess.run(sys.argv[1:], capture_output=True, "
             "text=True); print(json.dumps([r.returncode, r.stdout, r.stderr, "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "agentfab", *args], capture_output=True,
                         text=True, timeout=timeout)
    code, stdout, stderr, peak_kb = json.loads(out.stdout)
    return subprocess.CompletedProcess(args, code, stdout, stderr), time.monotonic() - started, peak_kb // 1024


# --- bounded inputs -----------------------------------------------------------------------------------------------

def test_a_recipe_of_nested_aliases_is_refused_in_bounded_time_and_memory(tmp_path):
    recipe = tmp_path / "laughs.yaml"
    recipe.write_text(LAUGHS + "name: x\nrecords: 10\nworlds: [bank]\n")
    assert recipe.stat().st_size < 1000  # 9 levels of 9: 387 million values once expanded
    result, seconds, peak_mb = _bounded(["build", str(recipe), "--out", str(tmp_path / "out")])
    line = one_line_error(result, "laughs.yaml", "aliases")
    assert len(line) < 400 and seconds < 45 and peak_mb < 400, (seconds, peak_mb)
    recursive = tmp_path / "loop.yaml"
    recursive.write_text("name: x\nrecords: &r [*r]\nworlds: [bank]\n")
    one_line_error(agentfab("build", recursive, "--out", tmp_path / "out"), "loop.yaml", "recursive")
    assert not (tmp_path / "out").exists()


def test_anchors_a_user_writes_for_convenience_still_work(tmp_path):
    from agentfab.flows.recipe import load_recipe

    path = tmp_path / "ok.yaml"
    path.write_text("name: ok\nrecords: &n 40\nshard_size: *n\nworlds: &w [bank, shop]\n")
    recipe, _ = load_recipe(path)
    assert recipe.records == recipe.shard_size == 40 and recipe.worlds == ["bank", "shop"]


def test_aliases_in_a_declared_domain_and_an_openapi_document_are_bounded(tmp_path):
    domain = tmp_path / "dom.yaml"
    domain.write_text(LAUGHS)
    recipe = write_recipe(tmp_path / "r.yaml", {**SMALL, "worlds": [{"declared": str(domain)}]})
    result, seconds, peak_mb = _bounded(["build", str(recipe), "--out", str(tmp_path / "out")])
    one_line_error(result, "dom.yaml", "aliases")
    assert seconds < 45 and peak_mb < 400
    api = tmp_path / "api.yaml"
    api.write_text(LAUGHS + "openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths: {}\n")
    result, seconds, peak_mb = _bounded(["tools", str(api), "--format", "openapi"])
    one_line_error(result, "api.yaml", "aliases")
    assert seconds < 45 and peak_mb < 400


def _chat(tool: dict, value: str) -> str:
    call = {"id": "call_1", "type": "function", "function": {"name": tool["name"],
                                                               "arguments": json.dumps({"s": value})}}
    return json.dumps({"messages": [{"role": "user", "content": f"look up {value[:8]}"},
                                    {"role": "assistant", "content": None, "tool_calls": [call]},
                                    {"role": "tool", "tool_call_id": "call_1", "content": "{\"ok\": true}"},
                                    {"role": "assistant", "content": "Done."}],
                       "tools": [{"type": "function", "function": tool}]}, ensure_ascii=False)


def _tool(pattern: str) -> dict:
    return {"name": "lookup", "description": "Look a code up.", "parameters": {
        "type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}, "required": ["s"]}}


def test_a_catastrophic_pattern_from_outside_runs_in_linear_time(tmp_path):
    evil = _tool("^(a+)+$")
    source = tmp_path / "evil.jsonl"  # Python's re needs ~2^40 steps for the first record
    source.write_text("\n".join([_chat(evil, "a" * 40 + "!"), _chat(evil, "aaaa"),
                                 _chat(_tool("^(?=a)a+$"), "aaa")]) + "\n")
    result, seconds, peak_mb = _bounded(["import", str(source), "--format", "openai", "--out", str(tmp_path / "o")])
    assert result.returncode == 0 and seconds < 45 and peak_mb < 500, (result.stderr[-2000:], seconds)
    report = json.loads((tmp_path / "o" / "import.json").read_text())
    assert report["accepted"] == 1 and report["rejected"] == 2  # no match; a lookahead is refused, not run
    rejected = pl.read_parquet(tmp_path / "o" / "rejected" / "*.parquet")
    details = " ".join(d for ds in rejected["verification"].struct.field("details").to_list() for d in ds)
    assert "does not match" in details or "must match" in details or "pattern" in details
    assert "backtracking" in details


def test_every_broken_record_stays_its_own_with_its_line(tmp_path):
    good = _chat(_tool("^[a-z]+$"), "abc")
    surrogate = good.replace("look up", "look up \\ud800")
    dangling = json.loads(good)
    dangling["tools"][0]["function"]["parameters"]["properties"]["s"] = {"$ref": "#/$defs/missing"}
    source = tmp_path / "mixed.jsonl"
    source.write_text("\n".join([good, surrogate, good.replace("abc", "abd"), json.dumps(dangling), good]) + "\n")
    result = agentfab("import", source, "--format", "openai", "--out", tmp_path / "o")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    report = json.loads((tmp_path / "o" / "import.json").read_text())
    assert report["accepted"] == 3, report  # lines 1, 3 and 5
    bad = {b["line"]: b["reason"] for b in report["bad_lines"]}
    assert 2 in bad and "surrogate" in bad[2], report
    if 4 not in bad:  # a dangling $ref: that record alone is rejected, and its row says which line it was
        assert report["rejected"] == 1, report
        row = pl.read_parquet(tmp_path / "o" / "rejected" / "*.parquet").row(0, named=True)
        assert json.loads(row["details"])["line"] == 4
    assert "line 2" in result.stdout


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_import_memory_stays_flat_in_the_number_of_records(tmp_path, suffix):
    padding = "x" * 4000
    line = json.loads(_chat(_tool("^[a-z]+$"), "abc"))
    line["messages"].insert(0, {"role": "system", "content": padding})

    def peak(n: int) -> int:
        source = tmp_path / f"n{n}{suffix}"
        with source.open("w") as fh:
            fh.write("" if suffix == ".jsonl" else "[\n")
            for i in range(n):
                line["messages"][1]["content"] = f"look up abc {i}"
                end = "\n" if suffix == ".jsonl" else (",\n" if i < n - 1 else "\n]\n")
                fh.write(json.dumps(line) + end)
        result, _, peak_mb = _bounded(["import", str(source), "--format", "openai", "--out", str(tmp_path / f"o{n}")],
                                      timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads((tmp_path / f"o{n}" / "import.json").read_text())["accepted"] == n
        return peak_mb

    small, large = peak(500), peak(6000)
    assert large < small + 40, (small, large)  # 5,500 more 4 KB records would be ~50 MB in memory at once


NOT_JSON = '{"messages": [{"role": "user", "content": tru}]}'


def test_a_json_array_keeps_each_broken_record_its_own_with_its_position(tmp_path):
    good = _chat(_tool("^[a-z]+$"), "abc")
    source = tmp_path / "mixed.json"
    source.write_bytes(("[\n" + ",\n".join([
        good,
        NOT_JSON,  # balanced, not JSON
        '"just a string"',
        good.replace("look up", "look up \\ud800"),  # a lone surrogate
        good.replace("look up", "look up XFF"),  # a byte that is not UTF-8
        good.replace("abc", "abd"),
    ]) + "\n]\n").encode().replace(b"XFF", b"\xff"))
    result = agentfab("import", source, "--format", "openai", "--out", tmp_path / "o")
    assert result.returncode == 0 and not result.stderr, result.stderr[-3000:]
    report = json.loads((tmp_path / "o" / "import.json").read_text())
    assert report["accepted"] == 2 and report["rejected"] == 0, report
    bad = {b["line"]: b["reason"] for b in report["bad_lines"]}
    assert sorted(bad) == [2, 3, 4, 5], bad
    assert "not JSON" in bad[2] and f"file line 3, column {NOT_JSON.index('tru') + 1}" in bad[2], bad[2]
    assert "JSON object" in bad[3] and "surrogate" in bad[4] and "not UTF-8" in bad[5] and "file line 6" in bad[5]
    details = [json.loads(d)["line"] for d in pl.read_parquet(tmp_path / "o" / "shards" / "*.parquet")["details"]]
    assert sorted(details) == [1, 6]
    # a file whose structure breaks stops with one line saying where
    (tmp_path / "broken.json").write_text("[\n" + good + "\n" + good + "\n]\n")
    one_line_error(agentfab("import", tmp_path / "broken.json", "--format", "openai", "--out", tmp_path / "o2"),
                   "broken.json", "after record 1", "line 3 column 1")


# --- one line for every user error --------------------------------------------------------------------------------

@pytest.mark.parametrize("body, named", [
    ("raise RuntimeError('boom')\n", "boom"),
    ("def broken(:\n", "broken_world"),
])
def test_a_python_world_that_raises_or_does_not_parse_is_one_line(tmp_path, body, named):
    (tmp_path / "broken_world.py").write_text(body)
    recipe = write_recipe(tmp_path / "r.yaml", {**SMALL, "worlds": [{"python": "broken_world"}]})
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    one_line_error(agentfab("build", recipe, "--out", tmp_path / "out", env=env), named)


FLAKY_WORLD = """
from byo_tools import DESCRIPTION, ENTITIES, NAME, Todo, TodoId, count_open, seed_state, set_status
from agentfab.worlds.authoring import tool
from agentfab.worlds.core import Store, ToolError

@tool(phrases=("show to-do {todo_id}", "what is to-do {todo_id} about"))
def get_todo(db: Store, todo_id: TodoId) -> Todo:
    \"\"\"Get one to-do item.\"\"\"
    t = db.get("todos", todo_id)
    if t is None or int(todo_id[3:]) % 4 == 0:
        BUG
    return {"todo_id": t["id"], "project_id": t["project_id"], "title": t["title"], "status": t["status"]}
"""


@pytest.mark.parametrize("bug, raised", [
    ("raise ZeroDivisionError(f'ratio of {todo_id} is undefined')", True),
    ("raise ToolError('not_found', f'no to-do {todo_id}')", False),  # the negative control: a ToolError is an answer
])
def test_a_python_tool_that_raises_rejects_that_record_alone_and_the_build_goes_on(tmp_path, bug, raised):
    (tmp_path / "flaky_todo.py").write_text(FLAKY_WORLD.replace("BUG", bug))
    recipe = write_recipe(tmp_path / "r.yaml", {**SMALL, "worlds": [{"python": "flaky_todo"}]})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent / "fixtures")])}
    result = agentfab("build", recipe, "--out", tmp_path / "out", "--workers", "1", "--quiet", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    rejected = pl.read_parquet(tmp_path / "out" / "rejected" / "*.parquet")
    hit = rejected.filter(pl.col("verification").struct.field("reasons").list.contains("exec.tool_raised"))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert len(pl.read_parquet(tmp_path / "out" / "shards" / "*.parquet")) > 0
    if not raised:
        assert hit.is_empty() and "exec.tool_raised" not in manifest["reasons"] and "raised" not in result.stdout
        return
    assert len(hit) >= 3 and manifest["reasons"]["exec.tool_raised"]["count"] == len(hit), manifest["reasons"]
    details = " ".join(d for ds in hit["verification"].struct.field("details").to_list() for d in ds)
    assert "tool get_todo raised ZeroDivisionError: ratio of TD-" in details and "flaky_todo.py:11" in details
    assert f"{len(hit)} records" in result.stdout and "exec.tool_raised" in result.stdout, result.stdout
    assert hit["id"][0] in result.stdout  # an example the user can `agentfab show`
    checked = agentfab("validate", tmp_path / "out", "--rejected", env=env)  # they stay rejected when re-checked
    assert checked.returncode == 0, checked.stdout[-3000:]


def test_only_a_python_worlds_tool_becomes_a_rejection_an_agentfab_tool_that_raises_stays_a_crash():
    from agentfab.schemas.tools import ToolSpec
    from agentfab.worlds.core import Store, Tool, ToolRaised

    def broken(_db: Store) -> dict:
        return {}["missing"]

    def spec(source: str) -> ToolSpec:
        return ToolSpec(name="broken", description="Break.", parameters={"type": "object", "properties": {}},
                        returns={"type": "object"}, domain="d", source=source)

    with pytest.raises(ToolRaised, match="tool broken raised KeyError: 'missing' at .*test_faults_inputs.py:"):
        Tool(spec("python"), broken).invoke(Store({}), {})
    for source in ("builtin", "declared"):  # agentfab's own bug: never hidden as a rejected row
        with pytest.raises(KeyError):
            Tool(spec(source), broken).invoke(Store({}), {})


@pytest.mark.parametrize("change, named", [
    ({"records": True}, "records"),
    ({"tasks": {"mix": {"single": float("nan")}}}, "tasks.mix.single"),
    ({"tasks": {"mix": {"single": float("inf")}}}, "tasks.mix.single"),
    ({"negatives": True}, "negatives"),
])
def test_booleans_and_non_finite_numbers_are_refused_where_numbers_are_expected(tmp_path, change, named):
    recipe = write_recipe(tmp_path / "r.yaml", {**SMALL, **change})
    one_line_error(agentfab("build", recipe, "--out", tmp_path / "out"), "r.yaml", named)
    assert not (tmp_path / "out").exists()


def test_a_binary_recipe_and_an_output_below_a_file_are_one_line_naming_them(tmp_path):
    binary = tmp_path / "recipe.yaml"
    binary.write_bytes(os.urandom(64) + b"\xff\xfe")
    one_line_error(agentfab("build", binary, "--out", tmp_path / "out"), str(binary))
    (tmp_path / "file").write_text("x")
    recipe = write_recipe(tmp_path / "r.yaml", SMALL)
    one_line_error(agentfab("build", recipe, "--out", tmp_path / "file" / "sub"), str(tmp_path / "file"))


# Prefect at DEBUG logs dozens of lines in a build (its EventsWorker, task runs, the temporary server): none of them
# may reach the terminal beside a one-line error
PREFECT_CHATTY = {**os.environ, "PREFECT_LOGGING_LEVEL": "DEBUG"}


def test_prefect_log_lines_go_to_its_log_file_not_to_stderr(tmp_path):
    script = ("import logging, sys; from agentfab.flows.prefect_env import configure, quiet_console; configure();"
              "log = quiet_console() if sys.argv[1] == 'quiet' else None; from prefect import flow;"
              "logging.getLogger('prefect.events.clients').warning('events lost: %s', sys.argv[1]);"
              "logging.getLogger('uvicorn.error').error('server said no'); print(log)")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "home")}
    env.pop("PREFECT_LOGGING_SETTINGS_PATH", None)
    quiet = subprocess.run([sys.executable, "-c", script, "quiet"], capture_output=True, text=True, env=env,
                           timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    log = Path(quiet.stdout.strip())
    assert log.parent == tmp_path / "home" and "events lost: quiet" in log.read_text()
    assert "server said no" in log.read_text()
    loud = subprocess.run([sys.executable, "-c", script, "loud"], capture_output=True, text=True, env=env, timeout=120)
    assert "events lost: loud" in loud.stderr  # the control: without it, Prefect's lines are on stderr


def test_a_python_worlds_seed_state_that_raises_is_one_line_naming_the_module(tmp_path):
    (tmp_path / "cursed.py").write_text("from byo_tools import DESCRIPTION, ENTITIES, NAME, get_todo\n\n\n"
                                        "def seed_state(seed):\n    raise RuntimeError(f'seed {seed} is cursed')\n")
    recipe = write_recipe(tmp_path / "r.yaml", {**SMALL, "worlds": [{"python": "cursed"}], "negatives": 0})
    env = {**PREFECT_CHATTY, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent / "fixtures")])}
    result = agentfab("build", recipe, "--out", tmp_path / "out", "--workers", "1", "--quiet", env=env)
    one_line_error(result, "world module 'cursed'", "RuntimeError: seed ", "is cursed", "cursed.py:5")


def test_a_real_crash_still_shows_its_traceback(tmp_path):
    # a world module that breaks agentfab itself: a stand-in for a bug of ours, met inside a worker process
    (tmp_path / "breaks_agentfab.py").write_text(
        "import agentfab.flows.shard\nfrom byo_tools import DESCRIPTION, ENTITIES, NAME, get_todo, seed_state\n\n\n"
        "def _bug(record):\n    raise RuntimeError('an internal bug')\n\n\n"
        "agentfab.flows.shard.verify_stage = _bug\n")
    recipe = write_recipe(tmp_path / "r.yaml", {**SMALL, "worlds": [{"python": "breaks_agentfab"}], "negatives": 0})
    env = {**PREFECT_CHATTY, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parent / "fixtures")])}
    result = agentfab("build", recipe, "--out", tmp_path / "out", "--workers", "1", "--quiet", env=env)
    assert result.returncode == 1 and "Traceback" in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == "RuntimeError: an internal bug", result.stderr[-3000:]
    assert "| DEBUG" not in result.stderr  # the traceback alone, without Prefect's log lines


def _mount_tmpfs(where: Path, options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root and mount rights")


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "size=96k,mode=0777")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_full_disk_is_one_line_and_the_build_resumes_exactly_once_there_is_room(small_disk, tmp_path):
    out = small_disk / "out"
    recipe = write_recipe(tmp_path / "r.yaml", SMALL)
    full = agentfab("build", recipe, "--out", out, "--workers", "1", "--quiet", env=PREFECT_CHATTY)
    one_line_error(full, str(out), "no space left on device")  # Prefect's own lines went to its log file
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    resumed = agentfab("build", recipe, "--out", out, "--workers", "1", "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    clean = make_build(tmp_path / "clean", SMALL)
    for folder in ("shards", "rejected"):
        assert pl.read_parquet(out / folder / "*.parquet").sort("id").equals(
            pl.read_parquet(clean / folder / "*.parquet").sort("id"))
    assert agentfab("validate", out).returncode == 0


def test_a_read_only_output_folder_is_one_line(tmp_path):
    ro = tmp_path / "ro"
    _mount_tmpfs(ro, "size=1m,ro")
    try:
        recipe = write_recipe(tmp_path / "r.yaml", SMALL)
        one_line_error(agentfab("build", recipe, "--out", ro / "out", env=PREFECT_CHATTY), str(ro / "out"))
    finally:
        subprocess.run(["umount", "-l", str(ro)], capture_output=True)


# --- files follow the umask; the terminal is not driven by row text; imported folders are readable ------------

def test_files_follow_the_umask(tmp_path):
    script = ("import os, sys; os.umask(0o027); sys.path.insert(0, sys.argv[2]); from small_builds import make_build;"
              "from fault_kit import SMALL; make_build(__import__('pathlib').Path(sys.argv[1]), SMALL)")
    fixtures = Path(__file__).parent / "fixtures"
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "b"), str(fixtures)], check=True, timeout=300)
    for rel in ("shards/shard-00000.parquet", "rejected/shard-00000.parquet", "stats/shard-00000.json",
                "manifest.json", "README.md", "build.json"):
        assert stat.S_IMODE((tmp_path / "b" / rel).stat().st_mode) == 0o640, rel
    old = os.umask(0o022)
    try:
        result = agentfab("export", tmp_path / "b", "--format", "openai", "--out", tmp_path / "train.jsonl")
    finally:
        os.umask(old)
    assert result.returncode == 0 and stat.S_IMODE((tmp_path / "train.jsonl").stat().st_mode) == 0o644


def test_show_strips_terminal_control_sequences_from_row_text(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    build = make_build(tmp_path / "b", SMALL)
    path = build / "shards" / "shard-00000.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    hostile = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\x1b[0m\x9b1m\rover\x08"
    for event in rows[0]["content"]:
        if event["class_"] == "text_observation" and event["source"] == "user":
            event["content"] = hostile
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    reseal(build, 0)
    result = agentfab("show", build, rows[0]["id"])
    assert result.returncode == 0, result.stderr
    assert "red" in result.stdout and "over" in result.stdout
    assert not any(c in result.stdout for c in "\x1b\x07\x9b\r\x08"), repr(result.stdout[:500])


def test_a_folder_written_by_import_is_read_by_show_and_validate_and_inspect_explains(tmp_path):
    source = tmp_path / "chat.jsonl"
    source.write_text(_chat(_tool("^[a-z]+$"), "abc") + "\n")
    assert agentfab("import", source, "--format", "openai", "--out", tmp_path / "o").returncode == 0
    checked = agentfab("validate", tmp_path / "o")
    assert checked.returncode == 0 and "whole" in checked.stdout, checked.stdout + checked.stderr
    row_id = pl.read_parquet(tmp_path / "o" / "shards" / "*.parquet")["id"][0]
    shown = agentfab("show", tmp_path / "o", row_id)
    assert shown.returncode == 0 and "look up abc" in shown.stdout, shown.stderr
    one_line_error(agentfab("inspect", tmp_path / "o"), "agentfab import", "import.json")
    shutil.rmtree(tmp_path / "o" / "rejected")
    assert "rejected/shard-00000.parquet" in agentfab("validate", tmp_path / "o").stdout
