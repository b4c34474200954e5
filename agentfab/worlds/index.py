"""Indexes of a world's tables: the records whose field has a value, found with one dict lookup instead of a scan.

An index belongs to the table object it describes (a `dict` of key -> record): forks and world variants share their
seeded tables, so they share those tables' indexes, built once on first use. A table is changed in place only by
the `Store` that copied it to write (`Store.put`, `Store.delete`), and each write drops the indexes of the table it
changes (`forget`); a store scans the tables it is writing itself. Every bucket lists its records in table order, so
an index answers exactly as the scan it replaces (first match, sort ties).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

Record = dict[str, Any]
Fields = str | tuple[str, ...]
# how a field's value is compared: as is, folded (`casefold`, `lower`: the value asked is folded the same way by
# the caller), or as a list whose members are looked up
How = str | None
FOLDS: dict[str, Callable[[str], str]] = {"casefold": str.casefold, "lower": str.lower}

_INDEXES: dict[int, tuple[dict[str, Record], dict[tuple[Fields, How], dict[Any, tuple[Record, ...]] | None]]] = {}
_LIMIT = 2048  # tables with indexes kept at once (the registry holds each table: its id is never another's;
# a build keeps at most 40 seeded states, of a few tables each, see flows.stages.VARIANT_BUDGET)


def _key(record: Record, fields: Fields, how: How) -> Any:
    if type(fields) is tuple:
        return tuple(record[f] for f in fields)
    value = record[fields]  # type: ignore[index]
    return FOLDS[how](value) if how in FOLDS and isinstance(value, str) else value


def matches(record: Record, fields: Fields, how: How, value: Any) -> bool:
    """Whether `record` is one `lookup(..., value)` finds: the scan an index replaces."""
    if how == "member":
        return value in record[fields]  # type: ignore[index]
    return _key(record, fields, how) == value


def scan(table: dict[str, Record], fields: Fields, value: Any, how: How = None) -> list[Record]:
    if type(fields) is str and how in (None, "member"):  # `matches` of the common cases, without a call per record
        return ([r for r in table.values() if value in r[fields]] if how == "member"
                else [r for r in table.values() if r[fields] == value])
    return [r for r in table.values() if matches(r, fields, how, value)]


def _build(table: dict[str, Record], fields: Fields, how: How) -> dict[Any, tuple[Record, ...]] | None:
    index: dict[Any, list[Record]] = {}
    try:
        for r in table.values():
            if how == "member":
                for member in dict.fromkeys(r[fields]):  # type: ignore[index]
                    index.setdefault(member, []).append(r)
            else:
                index.setdefault(_key(r, fields, how), []).append(r)
    except TypeError:  # a value that cannot be a dict key (a list, a dict): this field is scanned
        return None
    return {value: tuple(records) for value, records in index.items()}  # shared by every caller: never changed


def lookup(table: dict[str, Record], fields: Fields, value: Any, how: How = None) -> Sequence[Record]:
    """The records of `table` whose `fields` (one name, or a tuple of names compared with a tuple of values) equal
    `value`, in table order."""
    entry = _INDEXES.get(id(table))
    if entry is None or entry[0] is not table:
        if len(_INDEXES) >= _LIMIT:
            _INDEXES.clear()
        entry = _INDEXES[id(table)] = (table, {})
    indexes = entry[1]
    try:
        index = indexes[(fields, how)]
    except KeyError:
        index = indexes[(fields, how)] = _build(table, fields, how)
    if index is None:
        return scan(table, fields, value, how)
    try:
        return index.get(value, ())
    except TypeError:
        return scan(table, fields, value, how)


def forget(table: dict[str, Record]) -> None:
    """`table` is about to change in place: its indexes no longer describe it."""
    _INDEXES.pop(id(table), None)
