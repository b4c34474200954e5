"""Row dicts -> the Arrow table of the DatasetRow contract, column by column, with the contract check on the way.

`pa.Table.from_pylist` converts row by row: for every value of every nested dict it looks the key up and picks a
converter, and it drops an unknown key and nulls a missing one without a word, so each row was also walked once more
by `check_row_shapes`. Here each struct level of the schema is gathered into one Python list per field
(`itemgetter` over all the dicts of that level at once), each leaf list is converted by one `pa.array` call, and
lists and structs are assembled from those arrays (`ListArray.from_arrays`, `StructArray.from_arrays`). The check
comes with it: every dict of a level must be a dict with as many keys as the struct has fields, and the gathering
raises on a missing one, so the keys are exactly the contract's. The tools a shard offers are a few dozen dicts
shared by every row (`flows.rows.tool_rows`): each distinct one is converted once and taken by index.

Anything the fast path does not expect (a misfit key, a None or a tuple where a list or a struct goes) sends the
rows the old way: `check_row_shapes` raises its one-line error naming the row and the key, else `from_pylist`
converts them as it always did. The table is the one `from_pylist` makes (tests/test_rows.py compares them).
"""

from __future__ import annotations

from itertools import accumulate, chain
from operator import itemgetter
from typing import Any, Callable

import pyarrow as pa

from agentfab.schemas.rows import ROW_ARROW_SCHEMA, check_row_shapes

Convert = Callable[[list[Any]], pa.Array]


class _Unexpected(Exception):
    """A value the fast path does not convert (the slow path decides whether it is an error)."""


def _struct(arrow_type: pa.StructType) -> Convert:
    fields = [arrow_type.field(i) for i in range(arrow_type.num_fields)]
    children = [_converter(f.type, shared=f.name == "tools") for f in fields]
    width = len(fields)
    names = [f.name for f in fields]
    gather = itemgetter(*names) if width > 1 else lambda d, name=names[0]: (d[name],)  # always a tuple

    def convert(dicts: list[Any]) -> pa.Array:
        if not dicts:
            return pa.array([], type=arrow_type)
        try:  # not a dict, or a key too many or too few: the gathering or the count of keys fails
            columns = [list(column) for column in zip(*map(gather, dicts))]
            if set(map(len, dicts)) != {width}:
                raise _Unexpected
        except (KeyError, TypeError):
            raise _Unexpected from None
        return pa.StructArray.from_arrays([child(c) for child, c in zip(children, columns)], fields=fields)

    return convert


def _list(arrow_type: pa.ListType, shared: bool) -> Convert:
    item = _converter(arrow_type.value_type)
    offset_type = pa.int32()

    def convert(lists: list[Any]) -> pa.Array:
        if lists and set(map(type, lists)) != {list}:
            raise _Unexpected
        offsets = pa.array(list(accumulate(map(len, lists), initial=0)), type=offset_type)
        values = list(chain.from_iterable(lists))
        if shared:  # the same dict in many lists: each distinct one converted once
            distinct_values, at = _distinct(values)
            converted = item(distinct_values).take(pa.array(at, type=offset_type))
        else:
            converted = item(values)
        return pa.ListArray.from_arrays(offsets, converted, type=arrow_type)

    return convert


def _distinct(objects: list[Any]) -> tuple[list[Any], list[int]]:
    """The distinct objects (by identity, first seen first) and where each of `objects` is among them; ids are
    stable while this runs, as `objects` holds every one of them."""
    position: dict[int, int] = {}
    distinct: list[Any] = []
    at = []
    for o in objects:
        i = position.get(id(o))
        if i is None:
            i = position[id(o)] = len(distinct)
            distinct.append(o)
        at.append(i)
    return distinct, at


def _converter(arrow_type: pa.DataType, shared: bool = False) -> Convert:
    if pa.types.is_struct(arrow_type):
        return _struct(arrow_type)
    if pa.types.is_list(arrow_type):
        return _list(arrow_type, shared)
    return lambda values: pa.array(values, type=arrow_type)


_ROW = _struct(pa.struct(list(ROW_ARROW_SCHEMA)))


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """The rows as a table of ROW_ARROW_SCHEMA (no metadata); a row off the contract raises RowShapeError."""
    try:
        columns = _ROW(rows).flatten() if rows else [pa.array([], type=f.type) for f in ROW_ARROW_SCHEMA]
    except _Unexpected:
        check_row_shapes(rows)  # raises, naming the row and the key, when the keys are not the contract's
        return pa.Table.from_pylist(rows, schema=ROW_ARROW_SCHEMA)
    return pa.Table.from_arrays(columns, schema=ROW_ARROW_SCHEMA)
