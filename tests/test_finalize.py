"""Finalize reads each shard once: the quality figures and the coverage come from the shards' own stats (measured
when each shard was written, less the rows cross-shard dedup moved), and they equal what the rows on disk say."""

from __future__ import annotations

import json
from collections import Counter

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prefect.logging import disable_run_logger

from agentfab.flows.build import finalize, prepare_output
from agentfab.flows.quality import shard_quality
from agentfab.flows.recipe import parse_recipe
from agentfab.flows.shard import ShardJob, build_shard, distributions
from agentfab.flows.storage import paths

ADDITIVE = ("rows_measured", "asked_facts", "asked_facts_stated_share", "template_lint_rejected_rows", "created_ids",
            "created_ids_distinct_share", "error_types")


@pytest.fixture
def duplicated_build(tmp_path):
    """Two shards over two worlds; shard 1 also holds five rows of shard 0, counted in its stats as a shard would
    count them, so finalize must move them and take them out of every figure."""
    recipe = parse_recipe({"name": "fin", "seed": 3, "records": 160, "shard_size": 80, "worlds": ["bank", "shop"],
                           "negatives": 0.1, "rollouts": {"agent": "oracle", "recovery": 0.3}})
    out = tmp_path / "out"
    prepare_output(recipe, out, overwrite=False)
    for i in range(recipe.n_shards):
        build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp_path), str(out), i))
    first, second = paths(out, 0), paths(out, 1)
    repeated = pq.read_table(first["accepted"]).slice(0, 5)
    both = pa.concat_tables([pq.read_table(second["accepted"]), repeated.cast(pq.read_schema(second["accepted"]))])
    pq.write_table(both, second["accepted"])
    stats = json.loads(second["stats"].read_text())
    stats["rows"]["accepted"] = both.num_rows
    stats["distributions"] = distributions(both.to_pylist())
    stats["quality"] = shard_quality(both.to_pylist(), pq.read_table(second["rejected"]).to_pylist()).model_dump()
    second["stats"].write_text(json.dumps(stats))
    return recipe, out


def _on_disk(out):
    """The figures measured afresh on every row left on disk (the old way: read everything back)."""
    accepted = pq.read_table(sorted((out / "shards").glob("*.parquet"))[0]).to_pylist()
    for path in sorted((out / "shards").glob("*.parquet"))[1:]:
        accepted += pq.read_table(path).to_pylist()
    rejected = [r for path in sorted((out / "rejected").glob("*.parquet")) for r in pq.read_table(path).to_pylist()]
    return shard_quality(accepted, rejected)


def _finalize(recipe, out):
    with disable_run_logger():
        return finalize.fn(recipe, out, 1.0, [0, 1])


def test_quality_and_coverage_merged_from_shard_stats_equal_the_rows_on_disk(duplicated_build):
    recipe, out = duplicated_build
    before = _on_disk(out)  # still counts the five repeated rows
    manifest = _finalize(recipe, out)
    assert manifest["cross_shard_duplicates_moved"] >= 5
    fresh = _on_disk(out)
    q = manifest["quality"]
    assert q["rows_measured"] == fresh.rows == manifest["rows"]["accepted"]
    assert q["asked_facts"] == fresh.asked_facts > 0 and q["created_ids"] == sum(fresh.created_ids.values())
    assert q["error_types"] == dict(sorted(fresh.error_types.items(), key=lambda kv: (-kv[1], kv[0])))
    assert before.rows > fresh.rows and before.asked_facts > fresh.asked_facts  # the moved rows were subtracted
    # calls per (domain, tool), counted by polars from the API actions on disk
    calls = (pl.read_parquet(out / "shards" / "*.parquet").select("domain", "content").explode("content")
             .unnest("content").filter(pl.col("class_") == "api_action").group_by("domain", "function").len())
    cov = manifest["coverage"]
    assert cov["calls"] == calls["len"].sum() > 0
    per_domain = {d: n for d, n in calls.group_by("domain").agg(pl.col("len").sum()).iter_rows()}
    assert {d: v["calls"] for d, v in cov["domains"].items() if v["calls"]} == per_domain
    assert q["diversity_rows_measured"] == manifest["query_diversity"]["rows_measured"] == fresh.rows


def test_finalize_reads_each_shard_file_at_most_once(duplicated_build, monkeypatch):
    recipe, out = duplicated_build
    reads: Counter[str] = Counter()
    real_read, real_file = pq.read_table, pq.ParquetFile

    def read_table(source, *args, **kwargs):
        reads[str(source)] += 1
        return real_read(source, *args, **kwargs)

    def parquet_file(source, *args, **kwargs):
        reads[str(source)] += 1
        return real_file(source, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", read_table)
    monkeypatch.setattr(pq, "ParquetFile", parquet_file)
    monkeypatch.setattr(pl, "scan_parquet", lambda *a, **k: pytest.fail("finalize scanned the shards again"))
    _finalize(recipe, out)
    accepted = {str(p) for p in (out / "shards").glob("*.parquet")}
    assert accepted and all(reads[p] == 1 for p in accepted), reads
    assert all(n == 1 for n in reads.values()), reads  # a rejected file only where rows moved into it
    assert reads[str(paths(out, 0)["rejected"])] == 0


def test_stats_written_before_the_figures_existed_are_measured_from_their_files(duplicated_build):
    recipe, out = duplicated_build
    expected = _finalize(recipe, out)
    for path in (out / "stats").glob("*.json"):  # as an older agentfab wrote them
        stats = json.loads(path.read_text())
        del stats["quality"]
        path.write_text(json.dumps(stats))
    again = _finalize(recipe, out)
    assert again["quality"] == expected["quality"] and again["coverage"] == expected["coverage"]


def test_checks_that_overlap_the_shards_move_the_same_rows_as_one_pass_at_the_end(prefect_harness, tmp_path):
    from agentfab.flows.build import build

    text = ("name: overlap\nseed: 5\nrecords: 480\nshard_size: 80\nworlds: [bank]\nnegatives: 0\n"
            "tasks: {mix: {single: 1}}\n")  # one world, single calls: shards repeat each other's calls
    (tmp_path / "r.yaml").write_text(text)
    overlapped = tmp_path / "overlapped"
    manifest = build(tmp_path / "r.yaml", out=overlapped, workers=2)  # checks run while later shards build
    recipe = parse_recipe(__import__("yaml").safe_load(text))
    at_end = tmp_path / "at_end"
    prepare_output(recipe, at_end, overwrite=False)
    for i in range(recipe.n_shards):
        build_shard(ShardJob(recipe.canonical(), recipe.hash(), str(tmp_path), str(at_end), i))
    with disable_run_logger():
        single = finalize.fn(recipe, at_end, 1.0, list(range(recipe.n_shards)))
    assert manifest["cross_shard_duplicates_moved"] == single["cross_shard_duplicates_moved"] > 0
    for folder in ("shards", "rejected"):
        for path in sorted((at_end / folder).glob("*.parquet")):
            ids = pq.read_table(path, columns=["id"]).column("id").to_pylist()
            assert pq.read_table(overlapped / folder / path.name, columns=["id"]).column("id").to_pylist() == ids
    assert manifest["quality"] == single["quality"] and manifest["coverage"] == single["coverage"]


def test_diversity_sample_is_the_texts_of_the_first_rows_each_shard_keeps(duplicated_build):
    """The sample keeps only texts (not whole rows); its figures equal the ones polars measures on the first rows
    of each shard left on disk."""
    from agentfab.flows.manifest import distinct_ns
    from agentfab.flows.quality import per_shard_sample

    recipe, out = duplicated_build
    manifest = _finalize(recipe, out)
    k = per_shard_sample(recipe.n_shards)
    first = pl.concat([pl.read_parquet(p).head(k).with_row_index("row")
                       .with_columns(pl.lit(p.name).alias("file")) for p in sorted((out / "shards").glob("*.parquet"))])
    events = first.select("file", "row", "content").explode("content").unnest("content")
    user = events.filter((pl.col("class_") == "text_observation") & (pl.col("source") == "user"))
    assistant = events.filter(pl.col("class_") == "message_action")
    q = manifest["quality"]
    assert q["diversity_rows_measured"] == first.height == manifest["query_diversity"]["rows_measured"]
    assert q["user_text"] == distinct_ns(user["content"].fill_null("").to_list())
    assert q["assistant_text"] == distinct_ns(assistant["content"].fill_null("").to_list())
    assert {k: v for k, v in manifest["query_diversity"].items() if k != "rows_measured"} == \
        distinct_ns(first["query"].to_list())
    # negative control: the tools' outputs and the calls are no user or assistant text
    others = events.filter(~((pl.col("class_") == "text_observation") & (pl.col("source") == "user"))
                           & (pl.col("class_") != "message_action"))["content"].drop_nulls().to_list()
    assert others and distinct_ns(user["content"].to_list() + others) != q["user_text"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab.' -\n\u212a\u0130", max_size=30), max_size=6),
       st.lists(st.integers(1, 5), min_size=1, max_size=3, unique=True))
def test_distinct_ngrams_are_counted_within_each_text_as_sets_of_token_tuples_count_them(texts, ns):
    """distinct_ns numbers the tokens and counts n-grams with numpy; the figures are the ones sets of each text's
    token tuples give (no n-gram runs from one text into the next; a Kelvin sign or a dotted I lowers into a token)."""
    from agentfab.flows.manifest import _TOKEN, distinct_ns

    grams: dict[int, list[tuple[str, ...]]] = {n: [] for n in ns}
    for text in texts:
        tokens = _TOKEN.findall(text.lower())
        for n in ns:
            grams[n] += zip(*(tokens[i:] for i in range(n)))
    assert distinct_ns(texts, tuple(ns)) == {f"distinct_{n}": round(len(set(g)) / len(g), 4) if g else 0.0
                                             for n, g in grams.items()}


def test_sample_texts_reads_only_user_turns_and_assistant_messages():
    from agentfab.flows.quality import sample_texts

    def ev(cls, source, text):
        return {"class_": cls, "source": source, "content": text, "function": None}

    table = pa.Table.from_pylist([
        {"query": "q1", "content": [ev("text_observation", "user", "hi"), ev("message_action", "agent", "hello"),
                                    ev("api_action", "agent", None), ev("text_observation", "environment", "{}"),
                                    ev("text_observation", "user", None), ev("message_action", "agent", "done")]},
        {"query": "q2", "content": []},
    ])
    assert sample_texts(table) == [("q1", ("hi", ""), ("hello", "done")), ("q2", (), ())]
    assert sample_texts(table.slice(1)) == [("q2", (), ())]  # a slice's offsets do not start at 0


def test_the_flow_keeps_only_each_shards_outcome():
    """A shard's stats stay on disk (finalize folds them one at a time); the flow keeps its number and counts."""
    from agentfab.flows.shard_tasks import outcome

    stats = {"shard": 3, "rows": {"accepted": 9, "rejected": 1}, "distributions": {"tools_used": {"a": 1}},
             "quality": {"created_ids": {"ACC-1": 1}}, "reasons": {}}
    assert outcome(stats) == {"shard": 3, "rows": {"accepted": 9, "rejected": 1}}
    assert outcome({"fatal": ["llm.refused", "no"]}) == {"fatal": ["llm.refused", "no"]}
    assert outcome({"os_error": [28, "No space left", "x"]}) == {"os_error": [28, "No space left", "x"]}


def test_the_kept_sample_gives_back_the_rows_it_was_given():
    from agentfab.flows.crossshard import SampleTexts

    kept = SampleTexts()
    kept.extend([("q1", ("hi", ""), ("hello", "done")), ("q2", (), ())])
    kept.extend([])
    kept.extend([("ünï €", ("a",), ())])
    assert len(kept) == 3
    assert kept.rows() == [("q1", ("hi", ""), ("hello", "done")), ("q2", (), ()), ("ünï €", ("a",), ())]
    assert SampleTexts().rows() == []


def test_offered_tools_are_read_as_each_row_offers_them():
    """ToolKeys gives each row its offered (name, parameters) in order, parameters parsed (None when not a JSON
    object), over a column whose rows repeat tools, sliced and in chunks; kept across shards, it parses a tool once."""
    from agentfab.flows.crossshard import ToolKeys

    tool = pa.struct([("name", pa.string()), ("parameters", pa.string()), ("description", pa.string())])
    p1, p2 = '{"type": "object", "properties": {"id": {}}}', '{"properties": {"q": {}, "n": {}}}'
    rows = [[("get", p1), ("find", p2)], [], [("get", p1), ("get", p2), ("bad", "[1]"), ("worse", "{oops")],
            [("find", p2), ("get", p1)]]
    table = [[{"name": n, "parameters": p, "description": "d"} for n, p in r] for r in rows]
    column = pa.chunked_array([pa.array(table[:1], pa.list_(tool)), pa.array(table[1:], pa.list_(tool))])
    keys = ToolKeys()

    def parsed(name, params):
        try:
            value = json.loads(params)
        except ValueError:
            value = None
        return name, value if isinstance(value, dict) else None

    expected = [[parsed(n, p) for n, p in r] for r in rows]
    assert keys.rows(column) == expected
    assert keys.rows(column.slice(1)) == expected[1:]  # offsets that do not start at 0
    first = keys.rows(column)[0][0]
    assert keys.rows(column)[3][1] is first  # one parse per distinct tool, kept across calls
