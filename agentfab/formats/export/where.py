"""The `--where` filter: a small expression language, parsed by hand into a polars expression. Nothing is evaluated.

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := operand (("==" | "!=" | "<" | "<=" | ">" | ">=") operand | ["not"] "in" "[" literals "]")?
    operand    := column | literal
    column     := name ("." name)*            e.g. depth, verification.passed
    literal    := number | 'text' | "text" | true | false | null

A bare column must be boolean (`verification.passed`). Columns are checked against the dataset's schema and the
types of a comparison against each other, so a typo fails with the list of columns instead of an empty export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
""", re.VERBOSE)
_WORDS = {"and", "or", "not", "in", "true", "false", "null"}
_OPS = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}


class WhereError(ValueError):
    """A --where expression that is not in the grammar, names an unknown column, or compares mismatched types."""


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise WhereError(f"--where: unexpected character {text[pos]!r} at position {pos} in {text!r}; "
                             "write comparisons like depth >= 2 and domain == 'bank'")
        kind = m.lastgroup or ""
        if kind == "name" and m.group().lower() not in _WORDS and text[m.end():].lstrip().startswith("("):
            raise WhereError(f"--where: {m.group()}(...) looks like a function call; only comparisons of columns "
                             f"and values are allowed in {text!r}")
        if kind != "space":
            word = m.group().lower()
            out.append(_Tok("word" if kind == "name" and word in _WORDS else kind, m.group(), pos))
        pos = m.end()
    return out


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


@dataclass(frozen=True)
class _Operand:
    expr: pl.Expr
    kind: str  # "number", "string", "bool", "null", "list", "other"
    is_column: bool
    text: str
    value: Any = None


def _kind_of(dtype: pl.DataType) -> str:
    if dtype.is_numeric():
        return "number"
    if dtype == pl.String:
        return "string"
    if dtype == pl.Boolean:
        return "bool"
    return "other"


class _Parser:
    def __init__(self, text: str, schema: pl.Schema):
        self.text, self.schema, self.toks, self.i = text, schema, _tokens(text), 0

    def fail(self, why: str) -> WhereError:
        tok = self.toks[self.i] if self.i < len(self.toks) else None
        at = f"at {tok.text!r} (position {tok.pos})" if tok else "at the end"
        return WhereError(f"--where: {why} {at} in {self.text!r}")

    def peek(self, *texts: str) -> bool:
        tok = self.toks[self.i] if self.i < len(self.toks) else None
        return tok is not None and (tok.text.lower() in texts if tok.kind == "word" else tok.text in texts)

    def take(self, *texts: str) -> _Tok:
        if not self.peek(*texts):
            raise self.fail(f"expected {' or '.join(texts)}")
        self.i += 1
        return self.toks[self.i - 1]

    def parse(self) -> pl.Expr:
        if not self.toks:
            raise WhereError("--where: the expression is empty")
        expr = self.or_expr()
        if self.i < len(self.toks):
            raise self.fail("expected and/or or the end")
        return expr

    def or_expr(self) -> pl.Expr:
        expr = self.and_expr()
        while self.peek("or"):
            self.i += 1
            expr = expr | self.and_expr()
        return expr

    def and_expr(self) -> pl.Expr:
        expr = self.not_expr()
        while self.peek("and"):
            self.i += 1
            expr = expr & self.not_expr()
        return expr

    def not_expr(self) -> pl.Expr:
        if self.peek("not"):
            self.i += 1
            return ~self.not_expr()
        if self.peek("("):
            self.i += 1
            expr = self.or_expr()
            self.take(")")
            return expr
        return self.comparison()

    def column(self, tok: _Tok) -> _Operand:
        head, *fields = tok.text.split(".")
        if head not in self.schema:
            raise WhereError(f"--where: unknown column {head!r} in {self.text!r}; columns are: "
                             f"{', '.join(self.schema.names())}")
        expr, dtype = pl.col(head), self.schema[head]
        for name in fields:
            struct_fields = {f.name: f.dtype for f in dtype.fields} if isinstance(dtype, pl.Struct) else {}
            if name not in struct_fields:
                raise WhereError(f"--where: {tok.text!r} names no field {name!r}; "
                                 f"fields there: {', '.join(struct_fields) or 'none (not a struct)'}")
            expr, dtype = expr.struct.field(name), struct_fields[name]
        return _Operand(expr, _kind_of(dtype), True, tok.text)

    def literal(self, tok: _Tok) -> _Operand:
        if tok.kind == "number":
            value: Any = float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
            return _Operand(pl.lit(value), "number", False, tok.text, value)
        if tok.kind == "string":
            return _Operand(pl.lit(_unquote(tok.text)), "string", False, tok.text, _unquote(tok.text))
        word = tok.text.lower()
        if word in ("true", "false"):
            return _Operand(pl.lit(word == "true"), "bool", False, tok.text, word == "true")
        if word == "null":
            return _Operand(pl.lit(None), "null", False, tok.text)
        raise self.fail("expected a column or a value")

    def operand(self) -> _Operand:
        if self.i >= len(self.toks):
            raise self.fail("expected a column or a value")
        tok = self.toks[self.i]
        self.i += 1
        if tok.kind == "name":
            return self.column(tok)
        if tok.kind in ("number", "string", "word"):
            return self.literal(tok)
        self.i -= 1
        raise self.fail("expected a column or a value")

    def check_types(self, left: _Operand, right: _Operand) -> None:
        for side in (left, right):
            if side.kind == "other":
                raise WhereError(f"--where: {side.text} is a list or struct column; comparisons take numbers, "
                                 f"text and booleans in {self.text!r}")
        kinds = {left.kind, right.kind}
        if "null" in kinds or len(kinds) == 1:
            return
        raise WhereError(f"--where: cannot compare {left.text} ({left.kind}) with {right.text} ({right.kind}) "
                         f"in {self.text!r}")

    def comparison(self) -> pl.Expr:
        left = self.operand()
        negate = False
        if self.peek("not") and self.i + 1 < len(self.toks) and self.toks[self.i + 1].text.lower() == "in":
            self.i += 1
            negate = True
        if self.peek("in"):
            self.i += 1
            values = self.literal_list()
            for value in values:
                self.check_types(left, value)
            expr = _is_in(left, [v.value for v in values if v.kind != "null"])
            if any(v.kind == "null" for v in values):
                expr = expr | left.expr.is_null()
            return ~expr if negate else expr
        if self.i < len(self.toks) and self.toks[self.i].kind == "op":
            op = self.toks[self.i].text
            self.i += 1
            right = self.operand()
            self.check_types(left, right)
            if right.kind == "null" or left.kind == "null":
                column = left if right.kind == "null" else right
                if op not in ("==", "!="):
                    raise WhereError(f"--where: null can only be compared with == or != in {self.text!r}")
                return column.expr.is_null() if op == "==" else column.expr.is_not_null()
            return getattr(left.expr, _OPS[op])(right.expr)
        if left.is_column and left.kind == "bool":
            return left.expr
        raise self.fail(f"expected a comparison after {left.text!r}")

    def literal_list(self) -> list[_Operand]:
        self.take("[")
        values = []
        while True:
            if self.i >= len(self.toks) or self.toks[self.i].kind not in ("number", "string", "word"):
                raise self.fail("expected a value in the list")
            values.append(self.literal(self.toks[self.i]))
            self.i += 1
            if self.peek("]"):
                self.i += 1
                return values
            self.take(",")


_LIST_TYPES = {"number": pl.Float64, "string": pl.String, "bool": pl.Boolean}


def _is_in(left: _Operand, values: list[Any]) -> pl.Expr:
    # One typed list literal (`implode`), so polars neither guesses nor warns; numbers compare as floats.
    dtype = _LIST_TYPES.get(left.kind)
    column = left.expr.cast(pl.Float64) if left.kind == "number" else left.expr
    return column.is_in(pl.Series(values, dtype=dtype, strict=False).implode())


def parse_where(text: str, schema: pl.Schema) -> pl.Expr:
    """The polars expression for a --where string over a frame with this schema; raises WhereError if it is not one."""
    return _Parser(text, schema).parse()
