"""Inspection of a build: the terminal summary, one trajectory as a conversation, the offline HTML report and the
notebook, all read from a small real build made once for this module (plain shard functions, no Prefect flow)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from agentfab.inspect import find_row, render_trajectory, summarize, write_report
from agentfab.inspect.dataset import open_build
from agentfab.inspect.plots import axis_ticks, heat_map
from agentfab.inspect.report import pick_samples
from fixtures import small_builds
from fixtures.small_builds import XSS

ROOT = Path(__file__).resolve().parents[1]
WORLDS = ["bank", "library"]


def make_build(out: Path) -> Path:
    return small_builds.make_build(out, {"name": "insp", "seed": 3, "records": 300, "shard_size": 150,
                                         "worlds": WORLDS, "negatives": 0.2})


def poison(src: Path, dst: Path) -> Path:
    """A copy of a build whose first shard's rows carry a script tag in their text, a call and a result."""
    shutil.copytree(src, dst)
    return small_builds.poison_first_shards(dst)


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    return make_build(tmp_path_factory.mktemp("inspect") / "insp")


@pytest.fixture(scope="module")
def poisoned(build, tmp_path_factory) -> Path:
    return poison(build, tmp_path_factory.mktemp("poisoned") / "insp")


@pytest.fixture(scope="module")
def manifest(build) -> dict:
    return json.loads((build / "manifest.json").read_text())


def _rows(build: Path, folder: str) -> pl.DataFrame:
    return pl.read_parquet(build / folder / "*.parquet")


def test_summary_shows_the_counts_the_funnel_and_every_reason_code_of_the_manifest(build, manifest):
    text = summarize(build)
    assert str(manifest["rows"]["accepted"]) in text and str(manifest["rows"]["rejected"]) in text
    for stage in manifest["funnel"]:
        assert stage in text
    codes = set(manifest["reasons"]) | set(manifest["negatives"]["reasons"])
    assert codes, "the test build should reject something"
    for code in codes:
        assert code in text
    for heading in ("Funnel", "Reason codes", "kind", "depth x width", "Top tools", "events per row",
                    "characters per row"):
        assert heading in text
    assert "\x1b[" not in text  # plain text, no colour codes


def test_summary_of_a_folder_that_is_not_a_finished_build_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="not an agentfab build.*agentfab build"):
        summarize(tmp_path)
    with pytest.raises(ValueError, match="no such folder"):
        summarize(tmp_path / "missing")
    (tmp_path / "build.json").write_text("{}")
    with pytest.raises(ValueError, match="did not finish.*resume"):
        summarize(tmp_path)


def test_a_rendered_trajectory_shows_every_call_and_every_result_with_their_ids(build):
    df = _rows(build, "shards").filter(pl.col("n_calls") >= 3).sort("id")
    row = df.row(0, named=True)
    text = render_trajectory(row)
    assert text.index("User: ") < text.index("-> ")
    for event in row["content"]:
        if event["class_"] == "api_action":
            assert f"-> {event['function']}({event['kwargs']}) [{event['tool_call_id']}]" in text
        elif event["class_"] == "text_observation" and event["source"] == "environment":
            assert f"<- {event['content']} [{event['tool_call_id']}]" in text
        elif event["class_"] == "message_action":  # a multi-line reply is indented under its label
            assert "Assistant: " + event["content"].replace("\n", "\n" + " " * len("Assistant: ")) in text
    assert "Verdict: ACCEPTED" in text


def test_a_rendered_rejected_trajectory_names_its_reason_codes_and_perturbation(build):
    row = _rows(build, "rejected").filter(pl.col("provenance").struct.field("negative").is_not_null()).row(
        0, named=True)
    text = render_trajectory(row)
    assert "Verdict: REJECTED" in text
    for code in row["verification"]["reasons"]:
        assert code in text
    assert f"deliberate negative: {row['provenance']['negative']}" in text


def test_find_row_looks_in_accepted_then_rejected_and_lists_example_ids_when_missing(build):
    accepted_id = _rows(build, "shards")["id"][0]
    rejected_id = _rows(build, "rejected")["id"][0]
    assert find_row(build, accepted_id)["verification"]["passed"] is True
    assert find_row(build, rejected_id)["verification"]["passed"] is False
    with pytest.raises(ValueError, match=r"no row with id 'nope'.*ids look like: insp-"):
        find_row(build, "nope")
    with pytest.raises(ValueError, match=r"ids containing it: insp-00000-00000\d"):
        find_row(build, "00000-00000")


def test_samples_pair_a_rejected_row_with_the_accepted_row_of_the_same_task(build):
    picks = pick_samples(open_build(build))
    kinds = set(_rows(build, "shards")["kind"]) | set(_rows(build, "rejected")["kind"])
    assert [k for k, _, _ in picks] == sorted(kinds)
    assert picks == pick_samples(open_build(build))  # deterministic
    rows = {i: find_row(build, i) for _, a, r in picks for i in (a, r) if i}
    same_task = [(a, r) for _, a, r in picks if a and r and rows[a]["task_id"] == rows[r]["task_id"]]
    assert same_task
    for a, r in same_task:
        assert rows[a]["verification"]["passed"] and not rows[r]["verification"]["passed"]


def test_the_report_is_one_offline_file_with_a_titled_svg_per_plot(build, manifest, tmp_path):
    out = write_report(build, tmp_path / "sub" / "report.html")
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"<link|<script|@import|url\(|<iframe|<img", page, re.I)
    assert "http://" not in page and "https://" not in page
    figures = re.findall(r'<figure class="plot">.*?</figure>', page, re.S)
    assert len(figures) >= 9
    for fig in figures:
        assert re.search(r"<svg[^>]*>\s*<title>[^<]+</title>", fig) and re.search(r"<(rect|line)\b", fig)
        assert "<figcaption>" in fig
    for title in ("Funnel", "Depth x width", "Top 20 tools", "Events per row", "Calls per row", "Judge score"):
        assert title in page
    for code in manifest["reasons"]:
        assert code in page
    assert page.count('class="trajectory accepted"') >= 1 and page.count('class="trajectory rejected"') >= 1


def test_the_report_shows_markup_from_the_dataset_as_escaped_text(poisoned, tmp_path):
    page = write_report(poisoned, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower() and "alert(1)</" not in page
    text = render_trajectory(find_row(poisoned, _rows(poisoned, "shards")["id"][0]))
    assert XSS in text  # the terminal view shows the text as it is


def test_plots_escape_their_labels_and_use_readable_axis_steps():
    svg = heat_map("t<b>", ["<i>"], ["&"], [[3]], row_title="r", col_title="c")
    assert "<i>" not in svg and "&lt;i&gt;" in svg and "t&lt;b&gt;" in svg and "&amp;" in svg
    assert axis_ticks(412) == [0, 100, 200, 300, 400, 500]
    assert axis_ticks(3) == [0, 1, 2, 3]


def test_the_notebook_runs_against_a_build(build, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = ROOT / "notebooks" / "inspect.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code"), \
        "commit the notebook with outputs cleared"
    monkeypatch.setenv("AGENTFAB_DATASET", str(build))
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Reason codes" in text and "Verdict:" in text
    assert sum(1 for o in outputs if "image/png" in o.get("data", {})) >= 2


def test_the_dataset_card_shows_markup_and_pipes_from_the_manifest_as_text(build):
    from agentfab.flows.manifest import dataset_card
    from agentfab.schemas.manifest import Manifest, ReasonCount

    manifest = Manifest.model_validate_json((build / "manifest.json").read_text())
    written = (build / "README.md").read_text(encoding="utf-8")  # what finalize wrote
    assert dataset_card(manifest).split("## Quality")[0] == written.split("## Quality")[0]
    manifest.distributions["domain"] = {XSS: 3}
    manifest.reasons["rule.x"] = ReasonCount(count=1, meaning="a | b")
    card = dataset_card(manifest)
    assert "**domain**: &lt;script&gt;alert(1)&lt;/script&gt;: 3" in card and "<script" not in card
    assert "| rule.x |" in card and "a \\| b" in card  # a pipe in a cell cannot split the table
