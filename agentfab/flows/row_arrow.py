"""Rows -> the Arrow table of the DatasetRow contract, column by column, with the contract check on the way.

A build's rows are records (`flows.rows`): at every struct level a tuple of the contract's fields in the contract's
order, written in an order `check_layout` has checked against the contract, or made by the keyword-only makers of
`record_maker`, whose parameters are the contract's field names. A struct level of records is transposed with one
`zip`, and nothing is looked up by name again. Rows as dicts (imports written by hand,
tests, fixtures) take the path below.

`pa.Table.from_pylist` converts row by row: for every value of every nested dict it looks the key up and picks a
converter, and it drops an unknown key and nulls a missing one without a word, so each row was also walked once more
by `check_row_shapes`. Here each struct level of the schema is gathered into one Python list per field
(`itemgetter` over all the dicts of that level at once), each leaf list is converted by one `pa.array` call, and
lists and structs are assembled from those arrays (`ListArray.from_arrays`, `StructArray.from_arrays`). The check
comes with it: every dict of a level must be a dict with as many keys as the struct has fields, and the gathering
raises on a missing one, so the keys are exactly the contract's. The tools a shard offers are a few dozen dicts
shared by every row (`flows.rows.tool_rows`): each distinct one is converted once and taken by index.

Rows that are records all the way down (a build's) skip all that: one `pa.array` call converts each column, as
pyarrow reads a tuple by position and refuses one of another width, and the shared tools are converted once each
there too; only pyarrow's reading of dicts by key needs a guard (`_records_throughout`).

Anything the fast path does not expect (a misfit key, a None or a tuple where a list or a struct goes) sends the
rows the old way: `check_row_shapes` raises its one-line error naming the row and the key, else `from_pylist`
converts them as it always did. The table is the one `from_pylist` makes (tests/test_rows.py compares them).
"""

from __future__ import annotations

from itertools import accumulate, chain
from operator import itemgetter
from typing import Any, Callable, Iterator, Sequence

import pyarrow as pa

from agentfab.schemas.rows import ROW_ARROW_SCHEMA, RowShapeError, check_row_shapes

Convert = Callable[[Sequence[Any]], pa.Array]


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
        if set(map(type, dicts)) == {tuple}:  # records (flows.rows): already in the contract's order
            if set(map(len, dicts)) != {width}:
                raise _Unexpected
            columns: list[Any] = list(zip(*dicts))
        else:
            try:  # not a dict, or a key too many or too few: the gathering or the count of keys fails
                columns = list(zip(*map(gather, dicts)))
                if set(map(len, dicts)) != {width}:
                    raise _Unexpected
            except (KeyError, TypeError):
                raise _Unexpected from None
        return pa.StructArray.from_arrays([child(c) for child, c in zip(children, columns)], fields=fields)

    return convert


def _list(arrow_type: pa.ListType, shared: bool) -> Convert:
    item = _converter(arrow_type.value_type)
    offset_type = pa.int32()

    def convert(lists: Sequence[Any]) -> pa.Array:
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


def _distinct(objects: Sequence[Any]) -> tuple[list[Any], list[int]]:
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


def _scalar_lists(arrow_type: pa.ListType) -> Convert:
    """Lists of scalars (or of lists of scalars): pyarrow's own converter builds them in one call, faster than
    offsets assembled here; anything it refuses goes the slow path, which fails as `from_pylist` does."""

    def convert(lists: Sequence[Any]) -> pa.Array:
        try:
            return pa.array(lists, type=arrow_type)
        except (pa.ArrowException, TypeError, ValueError):
            raise _Unexpected from None

    return convert


def _holds_struct(arrow_type: pa.DataType) -> bool:
    return pa.types.is_struct(arrow_type) or (pa.types.is_list(arrow_type) and _holds_struct(arrow_type.value_type))


def _converter(arrow_type: pa.DataType, shared: bool = False) -> Convert:
    if pa.types.is_struct(arrow_type):
        return _struct(arrow_type)
    if pa.types.is_list(arrow_type):
        return _list(arrow_type, shared) if _holds_struct(arrow_type) else _scalar_lists(arrow_type)
    return lambda values: pa.array(values, type=arrow_type)


_ROW_TYPE = pa.struct(list(ROW_ARROW_SCHEMA))
_ROW = _struct(_ROW_TYPE)


def _records_throughout(values: Callable[[], Iterator[Any]], arrow_type: pa.DataType) -> bool:
    """Whether pyarrow converts every struct level of `values` (a fresh iterator over one level's values in the
    order pyarrow meets them) as records. pyarrow reads a struct level by the kind of the first value it meets there
    (a tuple by position, a dict by key, where a missing key becomes a null and an unknown one is dropped) and
    refuses any other kind after it, so the first value of each level decides: nothing else is walked."""
    try:
        if pa.types.is_list(arrow_type):
            return not _holds_struct(arrow_type) or _records_throughout(
                lambda: (item for v in values() if v is not None for item in v), arrow_type.value_type)
        if not pa.types.is_struct(arrow_type):
            return True
        first = next((v for v in values() if v is not None), None)
        if first is None:
            return True  # no value: no level below it either
        if type(first) is not tuple:
            return False
        return all(_records_throughout(lambda i=i: (v[i] for v in values() if v is not None), arrow_type.field(i).type)
                   for i in range(arrow_type.num_fields) if _holds_struct(arrow_type.field(i).type))
    except (IndexError, KeyError, TypeError):  # a record too short, a dict, a list that is none: the column path says
        return False


_WIDTH = _ROW_TYPE.num_fields
_COLUMN_TYPES = [_ROW_TYPE.field(i).type for i in range(_WIDTH)]
_TOOLS = _ROW_TYPE.get_field_index("tools")
_TOOL_TYPE = _COLUMN_TYPES[_TOOLS].value_type


def _record_columns(rows: Sequence[tuple[Any, ...]]) -> list[pa.Array]:
    """The columns of rows that are records throughout, each converted by one `pa.array` call (pyarrow reads a
    nested tuple by position and refuses one of another width; the width of the rows is checked here). The tools a
    shard offers are a few dozen records shared by every row (`flows.rows.tool_rows`): each distinct one is
    converted once and taken by index, not once for every row offering it (a bench shard: 5.3 a row)."""
    if set(map(len, rows)) != {_WIDTH}:
        raise ValueError("a row of another width")
    columns: list[Any] = list(zip(*rows))
    lists = columns[_TOOLS]
    if set(map(type, lists)) != {list}:
        raise ValueError("tools that are no list")
    distinct, at = _distinct(list(chain.from_iterable(lists)))
    offsets = pa.array(list(accumulate(map(len, lists), initial=0)), type=pa.int32())
    tools = pa.array(distinct, type=_TOOL_TYPE).take(pa.array(at, type=pa.int32()))
    return [pa.ListArray.from_arrays(offsets, tools, type=_COLUMN_TYPES[_TOOLS]) if i == _TOOLS else
            pa.array(column, type=arrow_type) for i, (column, arrow_type) in enumerate(zip(columns, _COLUMN_TYPES))]


def rows_to_table(rows: Sequence[Any]) -> pa.Table:
    """The rows (records or dicts) as a table of ROW_ARROW_SCHEMA (no metadata); a row off the contract raises
    RowShapeError.

    Records all the way down (a build's rows) are converted a column at a time (`_record_columns`): pyarrow reads
    a tuple by position and refuses one of another width, the whole check of a record (a bench shard of 2,000
    tasks: 17.3 -> 13.5 us a task against the columns below, when the rows were one `pa.array` call). Anything
    else, or anything pyarrow refuses, goes the column path, which checks dict keys and says what is wrong."""
    if rows and set(map(type, rows)) == {tuple} and _records_throughout(lambda: iter(rows), _ROW_TYPE):
        try:
            return pa.Table.from_arrays(_record_columns(rows), schema=ROW_ARROW_SCHEMA)
        except (pa.ArrowException, TypeError, ValueError):
            pass
    try:
        columns = _ROW(rows).flatten() if rows else [pa.array([], type=f.type) for f in ROW_ARROW_SCHEMA]
    except _Unexpected:
        if any(isinstance(row, tuple) for row in rows):
            rows = [record_dict(row) if isinstance(row, tuple) else row for row in rows]
        check_row_shapes(rows)  # raises, naming the row and the key, when the keys are not the contract's
        return pa.Table.from_pylist(rows, schema=ROW_ARROW_SCHEMA)
    return pa.Table.from_arrays(columns, schema=ROW_ARROW_SCHEMA)


def _struct_at(path: str) -> pa.StructType:
    """The struct type at a dotted path of the row ("" the row, "content" an event, "ground_truth.plan" a step)."""
    at: pa.DataType = _ROW_TYPE
    for part in filter(None, path.split(".")):
        at = at.field(part).type  # type: ignore[attr-defined]
        if pa.types.is_list(at):
            at = at.value_type
    if not pa.types.is_struct(at):
        raise ValueError(f"{path!r} is no object of the DatasetRow contract")
    return at


def fields_at(path: str) -> tuple[str, ...]:
    """The contract's field names of the struct at `path`, in its order (a record's order)."""
    struct = _struct_at(path)
    return tuple(struct.field(i).name for i in range(struct.num_fields))


def check_layout(layout: dict[str, tuple[str, ...]]) -> None:
    """Raise RowShapeError unless each path's names are the contract's fields there, in the contract's order: the
    check of code that writes records as tuple literals, once when it loads rather than once per row."""
    for path, names in layout.items():
        expected = fields_at(path)
        if tuple(names) != expected:
            unknown, missing = sorted(set(names) - set(expected)), sorted(set(expected) - set(names))
            problem = "; ".join([f"unknown key(s) {unknown}"] * bool(unknown) + [f"missing key(s) {missing}"] *
                                bool(missing)) or f"the order differs from the contract's {list(expected)}"
            raise RowShapeError(f"records of {path or 'the row'} do not fit the DatasetRow contract: {problem}")


def record_maker(path: str) -> Callable[..., tuple[Any, ...]]:
    """A function taking the fields of the struct at `path` by keyword only (all of them, no other) and returning
    them as a record in the contract's order, as `namedtuple` makes its constructor."""
    names = fields_at(path)
    arguments = ", ".join(names)
    source = f"def make(*, {arguments}):\n    return ({arguments},)\n"
    scope: dict[str, Any] = {}
    exec(source, scope)  # noqa: S102 - the names are the schema's own field names
    make = scope["make"]
    make.__name__ = make.__qualname__ = f"{path or 'row'}_record"
    return make  # type: ignore[no-any-return]


def _plain(value: Any, arrow_type: pa.DataType) -> Any:
    if pa.types.is_struct(arrow_type) and isinstance(value, tuple):
        return {arrow_type.field(i).name: _plain(v, arrow_type.field(i).type) for i, v in enumerate(value)}
    if pa.types.is_list(arrow_type) and isinstance(value, list):
        return [_plain(v, arrow_type.value_type) for v in value]
    return value


def record_dict(record: Any, path: str = "") -> Any:
    """A record (or any part of one) as the dict a reader of the written file gets."""
    return _plain(record, _struct_at(path))
