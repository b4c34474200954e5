"""The `--where` filter: a SQL condition over the row's columns, parsed by polars (`pl.sql_expr`). Nothing is
evaluated as Python.

    depth >= 2 AND domain = 'bank'
    kind IN ('single', 'clarify') AND NOT n_calls > 1
    verification.passed = false OR judge_score < 4.5      (nested fields with a dot)
    provenance.negative IS NULL

Text values take single quotes (double quotes name a column, as in SQL). Function calls and subqueries are refused,
and the condition is tried on a row of the dataset's schema before it is used, so a typo in a column name or a
comparison of mismatched types fails here, with the list of columns, instead of as an empty export.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

_STRING = re.compile(r"'(?:[^']|'')*'")
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*\(")
_KEYWORDS_BEFORE_PARENS = {"in", "not", "and", "or"}
_HINT = "write a condition like depth >= 2 AND domain = 'bank'"


class WhereError(ValueError):
    """A --where condition polars cannot parse, that calls a function, names an unknown column or mismatches types."""


def _sample(dtype: pl.DataType) -> Any:
    """A non-null value of `dtype`, so that a trial run meets the types a real row has (lists, structs)."""
    if isinstance(dtype, pl.Struct):
        return {f.name: _sample(f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.List):
        return [_sample(dtype.inner)]
    if dtype == pl.Boolean:
        return False
    if dtype.is_numeric():
        return 0
    return ""


def parse_where(text: str, schema: pl.Schema) -> pl.Expr:
    """The polars expression for `text`, checked against `schema`; WhereError says what is wrong and how to fix it."""
    if not text.strip():
        raise WhereError(f"--where: the condition is empty; {_HINT}")
    bare = _STRING.sub("''", text)  # what is inside quotes is data: f(x) there is no call
    call = next((m for m in _CALL.finditer(bare) if m.group(1).lower() not in _KEYWORDS_BEFORE_PARENS), None)
    if call is not None:
        raise WhereError(f"--where: {call.group(1)}(...) looks like a function call; only comparisons of columns "
                         f"and values are allowed in {text!r}")
    if re.search(r"\bselect\b", bare, re.IGNORECASE):
        raise WhereError(f"--where: subqueries are not allowed in {text!r}; {_HINT}")
    try:
        expr = pl.sql_expr(text)
    except Exception as exc:  # polars reports SQL it cannot read with several exception types
        raise WhereError(f"--where: cannot read {text!r} ({str(exc).splitlines()[0]}); {_HINT}") from None
    if not expr.meta.undo_aliases().meta.eq(expr):  # `depth >= 2 depth` parses as an alias: a missing AND/OR
        raise WhereError(f"--where: {text!r} has a word after the condition; join conditions with AND or OR")
    unknown = [c for c in expr.meta.root_names() if c not in schema]
    if unknown:
        quoted = ' (text values take single quotes)' if '"' in text else ""
        raise WhereError(f"--where: unknown column {unknown[0]!r} in {text!r}{quoted}; columns are: "
                         f"{', '.join(schema.names())}")
    trial = pl.DataFrame([{name: _sample(dtype) for name, dtype in schema.items()}], schema=schema)
    try:
        trial.filter(expr)
    except pl.exceptions.StructFieldNotFoundError as exc:
        raise WhereError(f"--where: {text!r} names no field {str(exc).splitlines()[0]!r} of a struct column; "
                         f"{_HINT}") from None
    except Exception as exc:
        raise WhereError(f"--where: {text!r} does not apply to the dataset's columns "
                         f"({str(exc).splitlines()[0]}); {_HINT}") from None
    return expr
