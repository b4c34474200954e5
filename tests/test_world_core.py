"""The world core's shortcuts answer exactly as the long way: remembered pattern checks, remembered answers, forks
that share their seeded tables until they write."""

from __future__ import annotations

import re

from jsonschema import Draft202012Validator

import re2

from agentfab.worlds.core import Memo, Store, _finder, compile_parameters
from agentfab.worlds.registry import builtin_domain


def test_a_remembered_pattern_check_refuses_and_accepts_as_often_as_asked():
    tool = builtin_domain("bank").tool("get_balance")
    schema = tool.spec.parameters
    pattern = re.compile(schema["properties"]["account_id"]["pattern"])
    values = ["ACC-1001", "ACC-10010", "acc-1001", "ACC-1001", "ACC-1O01", "ACC-10010", "ACC-1002", "ACC-1002"]
    for value in values * 2:  # each value is checked again once remembered
        problem = tool.check({"account_id": value})
        assert (problem is None) == bool(pattern.search(value)), (value, problem)
        assert (problem is None) == Draft202012Validator(schema).is_valid({"account_id": value})
    check = compile_parameters({"type": "object", "patternProperties": {"^x-": {"type": "integer"}}})
    for _ in range(2):
        check({"x-a": 1, "b": "s"})
        try:
            check({"x-a": "s"})
        except Exception as exc:  # noqa: BLE001 - fastjsonschema's own error type
            assert "must be integer" in str(exc)
        else:
            raise AssertionError("a patternProperties value of the wrong type was accepted")


def test_a_pattern_finds_what_re2s_own_search_finds():
    texts = ["ACC-1001", "xACC-1001", "ACC-10010", "", "é-ACC-1001", "ÅÄÖ", "ab\ncd", "née 12", "12"]
    for source in (r"^ACC-\d{4}$", r"\d+", r"é", r"^$", r"[ÅÄ]Ö", r"(?m)^cd", r"b$"):
        pattern = re2.compile(source)
        finds = _finder(pattern)
        for text in texts:
            assert finds(text) == (pattern.search(text) is not None), (source, text)


def test_a_memo_makes_each_value_once_and_starts_over_at_its_limit():
    made: list[str] = []
    memo = Memo(lambda key: made.append(key) or key.upper(), limit=3)
    assert [memo[k] for k in "abab"] == ["A", "B", "A", "B"] and made == ["a", "b"]
    for k in "cde":
        memo[k]
    assert len(memo) <= 3 and made == ["a", "b", "c", "d", "e"]
    assert memo["a"] == "A" and made[-1] == "a"  # forgotten at the limit, made again: the same answer


def test_value_memos_start_over_together_past_the_process_budget(monkeypatch):
    """Many memos, each far below its own limit, filling slowly: together they grew a worker through a 1M build."""
    from agentfab.worlds import memo_budget

    monkeypatch.setattr(memo_budget, "VALUES_KEPT", 4)
    monkeypatch.setattr(memo_budget, "_VALUES", memo_budget._Budget())
    upper, lower = Memo(str.upper), Memo(str.lower)
    assert [upper[k] for k in "ab"] + [lower[k] for k in "CD"] == ["A", "B", "c", "d"]
    assert len(upper) + len(lower) == 4
    lower["E"]  # the fifth entry of the process: every value memo forgets
    assert len(upper) + len(lower) == 0
    assert upper["a"] == "A" and lower["E"] == "e"  # made again: the same answers


def test_forks_share_the_seeded_tables_until_they_write_and_never_see_each_others_writes():
    seeded = Store({"accounts": {"A1": {"id": "A1", "balance": 5}}, "cards": {}})
    reader, writer = seeded.fork(), seeded.fork()
    writer.put("accounts", "A1", {"id": "A1", "balance": 7})
    writer.put("cards", "C1", {"id": "C1"})
    assert reader.get("accounts", "A1") == {"id": "A1", "balance": 5} and reader.get("cards", "C1") is None
    assert seeded.get("accounts", "A1") == {"id": "A1", "balance": 5} and seeded.count("cards") == 0
    assert reader.diff() == {} and writer.diff() == {
        "accounts": {"A1": [{"id": "A1", "balance": 5}, {"id": "A1", "balance": 7}]},
        "cards": {"C1": [None, {"id": "C1"}]}}
    writer.delete("cards", "C1")
    assert writer.diff() == {"accounts": {"A1": [{"id": "A1", "balance": 5}, {"id": "A1", "balance": 7}]}}
    assert seeded.fork().get("accounts", "A1")["balance"] == 5


def test_schemas_that_differ_only_in_annotations_share_one_validator_and_keep_every_rule():
    def schema(description: str) -> dict:
        return {"type": "object", "additionalProperties": False, "required": ["description", "default"],
                "properties": {
                    "description": {"type": "string", "description": description, "maxLength": 5},
                    "default": {"type": "integer", "title": "A count", "default": 3, "minimum": 1, "x-entity": "n"},
                    "x-tag": {"type": "string", "pattern": r"^T-\d+$", "examples": ["T-1"]}}}

    check = compile_parameters(schema("Some text"))
    assert compile_parameters(schema("Other words")) is check  # one validator for both
    check({"description": "abc", "default": 2, "x-tag": "T-7"})
    for bad in ({"description": "abcdef", "default": 2}, {"description": "abc", "default": 0},
                {"description": "abc"}, {"description": "abc", "default": 2, "x-tag": "X-7"},
                {"description": "abc", "default": 2, "other": 1}):
        assert not Draft202012Validator(schema("x")).is_valid(bad)
        try:
            check(bad)
        except Exception:  # noqa: BLE001 - fastjsonschema's own error type
            continue
        raise AssertionError(f"{bad} was accepted")


def _scanned(store: Store, table: str, fields, value, how=None) -> list[dict]:
    """What `Store.where` must find, the long way."""
    def key(r: dict):
        if isinstance(fields, tuple):
            return tuple(r[f] for f in fields)
        return r[fields].lower() if how == "lower" else r[fields].casefold() if how == "casefold" else r[fields]
    return [r for r in store.rows(table) if (value in r[fields] if how == "member" else key(r) == value)]


def _agree(store: Store, table: str, fields, how=None) -> int:
    """Every value of `fields` in the table (and one no record has) is found as a scan finds it; returns how many
    values were asked."""
    values = {v for r in store.rows(table) for v in (r[fields] if how == "member" else [None])} if how == "member" \
        else {tuple(r[f] for f in fields) if isinstance(fields, tuple) else
              (r[fields].lower() if how == "lower" else r[fields].casefold() if how == "casefold" else r[fields])
              for r in store.rows(table)}
    values.add(("none", "of", "these") if isinstance(fields, tuple) else "none of these")
    for value in sorted(values, key=repr):
        assert list(store.where(table, fields, value, how)) == _scanned(store, table, fields, value, how), value
    return len(values)


def test_an_indexed_lookup_finds_what_a_scan_finds_through_every_write_path():
    seeded = builtin_domain("calendar").seeded(11)
    variant = seeded.with_offset(3)
    reader, writer = variant.fork(), variant.fork()
    asks = [("people", "team", None), ("people", "email", None), ("people", "name", "lower"),
            ("events", "attendees", "member"), ("events", ("date", "status"), None), ("people", "name", "casefold")]
    for table, fields, how in asks:  # indexes of the shared seeded tables, built on first use
        assert _agree(reader, table, fields, how) > 2
    person = next(iter(seeded.rows("people")))
    team = next(r["team"] for r in seeded.rows("people") if r["team"] != person["team"])
    before = list(reader.where("people", "team", team))
    writer.put("people", person["id"], {**person, "team": team, "name": person["name"].upper()})  # changed
    writer.put("people", "P-999", {**person, "id": "P-999", "email": "new@example.com"})  # added
    event = next(iter(seeded.rows("events")))
    writer.delete("events", event["id"])  # deleted
    writer.put("events", "EV-9999", {**event, "id": "EV-9999", "attendees": ["P-999"]})
    for table, fields, how in asks:
        _agree(writer, table, fields, how)
        _agree(reader, table, fields, how)  # the reader, sharing the seeded tables, never sees the writer's changes
    assert person["id"] in [r["id"] for r in writer.where("people", "team", team)]
    assert list(reader.where("people", "team", team)) == before
    assert [r["id"] for r in writer.where("events", "attendees", "P-999", "member")] == ["EV-9999"]
    assert not reader.where("events", "attendees", "P-999", "member")
    # a root written after a fork was taken: a later fork shares the root's own copy, which the root changes in place
    root = builtin_domain("bank").seeded(5)
    first = root.fork()
    account = next(iter(root.rows("accounts")))
    root.put("accounts", account["id"], {**account, "owner_id": "CUS-none"})
    later = first.fork()
    assert [r["id"] for r in later.where("accounts", "owner_id", "CUS-none")] == [account["id"]]
    root.put("accounts", "ACC-0001", {**account, "id": "ACC-0001", "owner_id": "CUS-none"})  # in place: seen
    root.delete("accounts", account["id"])
    assert [r["id"] for r in later.where("accounts", "owner_id", "CUS-none")] == ["ACC-0001"]
    _agree(later, "accounts", "owner_id")


def test_a_field_whose_values_cannot_be_keys_is_scanned():
    store = Store({"t": {"a": {"id": "a", "tags": ["x"], "meta": {"k": 1}}, "b": {"id": "b", "tags": [], "meta": {}}}})
    assert [r["id"] for r in store.fork().where("t", "meta", {"k": 1})] == ["a"]
    assert [r["id"] for r in store.fork().where("t", "tags", ["x"])] == ["a"]
    assert [r["id"] for r in store.fork().where("t", "tags", "x", "member")] == ["a"]
