"""Large numbers read the way a person writes them ("2,552,464.00", "6,212,911 listeners"), in requests, replies
and thoughts alike, and the checks read them whole: the answer check, the judge's grounding and the negatives."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
from small_builds import make_build

from agentfab.schemas.answers import flatten, mentioned, normalize, render_value
from agentfab.validators.judge import _CHECKABLE


def test_floats_from_a_thousand_and_integers_from_ten_thousand_have_separators():
    assert render_value(2552464.0) == "2,552,464.00" and render_value(-12345.5) == "-12,345.50"
    assert render_value(1204.5) == "1,204.50" and render_value(999.5) == "999.50"
    assert render_value(6212911) == "6,212,911" and render_value(23202) == "23,202"
    assert render_value(1976) == "1976" and render_value(9999) == "9999"  # a year, a small count: as written
    assert normalize(True) == "yes" and render_value("ACC-10001") == "ACC-10001"  # ids are text, never grouped


def test_the_checks_read_a_grouped_number_whole():
    value = normalize(2552464.0)
    assert mentioned(flatten("The highest amount is 2,552,464.00 USD."), value)
    assert not mentioned(flatten("The highest amount is 2,999,464.00 USD."), value)  # one group changed
    assert not mentioned(flatten("The highest amount is 12,552,464.00 USD."), value)
    assert _CHECKABLE.findall("It is 2,552,464.00, not 464.00 or 1,5.25.") == ["2,552,464.00", "464.00"]


def test_a_build_never_writes_a_large_number_of_a_result_without_its_separators(tmp_path: Path):
    recipe = {"name": "numbers", "seed": 3, "records": 300, "shard_size": 300, "negatives": 0.3,
              "worlds": [{"synthesize": {"domains": 30, "seed": 7}}],
              "tasks": {"mix": {"single": 0.4, "chain": 0.3, "compound": 0.3}}}
    out = make_build(tmp_path / "out", recipe)
    rows = pl.read_parquet(out / "shards" / "*.parquet").to_dicts()
    grouped = 0
    for row in rows:
        numbers = set()
        for e in row["content"]:
            if e["source"] == "environment":
                for v in _values(json.loads(e["content"])):
                    if isinstance(v, float) and abs(v) >= 1000:
                        numbers.add(f"{v:.2f}")
                    elif isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 10_000:
                        numbers.add(str(v))
        said = " ".join(e["content"] for e in row["content"] if e["class_"] == "message_action")
        said += " ".join(e["description"] or "" for e in row["content"])
        plain = [n for n in numbers if re.search(rf"(?<![\w.,-]){re.escape(n)}(?![\w,]|\.\d)", said)]
        assert not plain, (row["id"], plain, said)
        grouped += bool(re.search(r"\d,\d{3}\b", said))
    assert grouped >= 20, grouped  # the domains have money and large counts: the test reads real cases
    stats = json.loads((out / "manifest.json").read_text())["negatives"]
    assert stats["made"] > 0 and stats["caught_by_expected_code"] == stats["made"] and stats["giveaway"] == 0


def _values(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _values(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _values(v)
    else:
        yield obj
