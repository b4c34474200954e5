"""Large numbers read the way a person writes them ("2,552,464.00", "6,212,911 listeners"), in requests, replies
and thoughts alike, and the checks read them whole: the answer check, the judge's grounding and the negatives."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
from small_builds import make_build

from agentfab.schemas.answers import flatten, mentioned, normalize, render_value, replace_mentions
from agentfab.schemas.wording import plain_number
from agentfab.validators.judge import _CHECKABLE


def test_floats_from_a_thousand_and_integers_from_ten_thousand_have_separators():
    assert render_value(2552464.0) == "2,552,464.00" and render_value(-12345.5) == "-12,345.50"
    assert render_value(1204.5) == "1,204.50" and render_value(999.5) == "999.50"
    assert render_value(6212911) == "6,212,911" and render_value(23202) == "23,202"
    assert render_value(1976) == "1976" and render_value(9999) == "9999"  # a year, a small count: as written
    assert normalize(True) == "yes" and render_value("ACC-10001") == "ACC-10001"  # ids are text, never grouped


def test_a_quantity_from_a_thousand_is_grouped_and_a_year_is_not():
    """'The total delay is 3836 minutes' beside 'the average is 11,485.24 flight hours' (a quickstart reply): a whole
    number from 1,000 is grouped where the field says it is a quantity; a year or a number that labels a thing is
    written as it is."""
    assert render_value(3836, grouped=True) == "3,836" and render_value(-1200, grouped=True) == "-1,200"
    assert render_value(999, grouped=True) == "999" and render_value(23202, grouped=True) == "23,202"
    for field, described in [("born", "The author's birth year"), ("built_year", "Year of construction"),
                             ("founded", "Year founded"), ("value", "The latest year built"),
                             ("room_number", "Room number")]:
        assert plain_number(field, described), field
    for field, described in [("delay_minutes", "Departure delay in minutes"), ("value", "The total minutes"),
                             ("attendance", "Spectators"), ("quantity", ""), ("count", "Number of floors"),
                             ("years_experience", "Years of teaching experience")]:
        assert not plain_number(field, described), field


def test_the_checks_find_a_four_digit_number_written_either_way_and_never_inside_a_grouped_one():
    said = flatten("The total delay is 3,836 minutes over all 26 flights.")
    assert mentioned(said, "3836") and mentioned(flatten("It was built in 1976."), "1976")
    assert not mentioned(said, "836") and not mentioned(said, "3") and not mentioned(said, "3837")
    assert not mentioned(flatten("The highest amount is 12,500.00 USD."), "500.00")
    assert mentioned(flatten("Chicago, 836 units"), "836")  # a comma then a space ends a number
    assert replace_mentions("The total is 3,836 minutes, not 3836.", "3836", "4,120") == (
        "The total is 4,120 minutes, not 4,120.")


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
                for field, v in _fields(json.loads(e["content"])):  # a quantity from 1,000 ("3,836 minutes"),
                    if type(v) is int and 1000 <= abs(v) < 10_000 and field != "value" \
                            and not re.search(r"year|born|founded|number", field):  # not a year ("born 1976")
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


def _fields(obj, field=None):
    """(field, value) of every scalar of a result."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _fields(v, k)
    elif isinstance(obj, list):
        for v in obj:
            yield from _fields(v, field)
    else:
        yield field, obj
