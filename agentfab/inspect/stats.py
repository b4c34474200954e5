"""Counts and length statistics of a build's rows, as polars expressions over lazy scans.

Shared by the terminal summary, the HTML report and the notebook, so the three never disagree.
"""

from __future__ import annotations

import polars as pl

_EVENT_TEXT = ("content", "kwargs", "description")

EVENTS = pl.col("content").list.len().alias("events")
CHARACTERS = pl.col("content").list.eval(
    pl.sum_horizontal(pl.element().struct.field(f).str.len_chars().fill_null(0) for f in _EVENT_TEXT)
).list.sum().alias("characters")
LENGTHS = {"events per row": EVENTS, "characters per row": CHARACTERS, "calls per row": pl.col("n_calls")}


def _label_key(label: str) -> tuple[int, float, str]:
    """Numbers in numeric order before words in alphabetical order."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def value_counts(lf: pl.LazyFrame, column: str | pl.Expr) -> list[tuple[str, int]]:
    """(value, rows) for every value of a column, numbers numerically and words alphabetically."""
    expr = pl.col(column) if isinstance(column, str) else column
    df = lf.select(expr.cast(pl.String).fill_null("null").alias("value")).group_by("value").len().collect()
    return sorted(((v, n) for v, n in df.iter_rows()), key=lambda vn: _label_key(vn[0]))


def top_counts(pairs: list[tuple[str, int]], top: int) -> list[tuple[str, int]]:
    """The `top` most frequent, most frequent first (ties by name, so the order is stable)."""
    return sorted(pairs, key=lambda vn: (-vn[1], vn[0]))[:top]


def call_counts(lf: pl.LazyFrame, top: int = 20) -> list[tuple[str, int]]:
    """How many calls each tool received (every call counts, not only distinct tools per row)."""
    calls = (lf.select(pl.col("content").list.eval(
        pl.element().filter(pl.element().struct.field("class_") == "api_action").struct.field("function"))
        .alias("tool")).explode("tool").drop_nulls("tool"))
    return top_counts(value_counts(calls, "tool"), top)


def reason_counts(lf: pl.LazyFrame) -> list[tuple[str, int]]:
    """Rows per reason code (a row with two codes counts for both), most frequent first."""
    codes = lf.select(pl.col("verification").struct.field("reasons").alias("code")).explode("code")
    return top_counts(value_counts(codes.drop_nulls("code"), "code"), 10_000)


def negative_counts(lf: pl.LazyFrame) -> list[tuple[str, int]]:
    """Rows per deliberate perturbation (provenance.negative), most frequent first."""
    neg = lf.select(pl.col("provenance").struct.field("negative").alias("negative")).drop_nulls("negative")
    return top_counts(value_counts(neg, "negative"), 10_000)


def depth_width(lf: pl.LazyFrame) -> tuple[list[int], list[int], list[list[int]]]:
    """(depths, widths, rows[depth][width]) over every combination from 0 to the largest seen."""
    df = lf.group_by("depth", "width").len().collect()
    if df.height == 0:
        return [], [], []
    depths = list(range(int(df["depth"].min()), int(df["depth"].max()) + 1))
    widths = list(range(int(df["width"].min()), int(df["width"].max()) + 1))
    grid = [[0] * len(widths) for _ in depths]
    for d, w, n in df.iter_rows():
        grid[d - depths[0]][w - widths[0]] = n
    return depths, widths, grid


def length_stats(lf: pl.LazyFrame) -> dict[str, dict[str, float]]:
    """min / mean / median / p95 / max of events, characters and calls per row."""
    aggs = []
    for name, expr in LENGTHS.items():
        aggs += [expr.min().alias(f"{name}|min"), expr.mean().alias(f"{name}|mean"),
                 expr.median().alias(f"{name}|median"), expr.quantile(0.95).alias(f"{name}|p95"),
                 expr.max().alias(f"{name}|max")]
    row = lf.select(aggs).collect().row(0, named=True)
    out: dict[str, dict[str, float]] = {}
    for key, value in row.items():
        name, stat = key.split("|")
        out.setdefault(name, {})[stat] = round(float(value), 1) if value is not None else 0.0
    return out


def histogram(pairs: list[tuple[str, int]], max_bins: int = 30) -> list[tuple[str, int]]:
    """Integer value counts merged into at most `max_bins` equal-width bins labelled 'lo-hi'."""
    if not pairs:
        return []
    values = {int(float(v)): n for v, n in pairs}
    lo, hi = min(values), max(values)
    width = max(1, -(-(hi - lo + 1) // max_bins))
    if width == 1:
        return [(str(v), values.get(v, 0)) for v in range(lo, hi + 1)]
    bins = []
    for start in range(lo, hi + 1, width):
        end = min(start + width - 1, hi)
        bins.append((f"{start}-{end}", sum(values.get(v, 0) for v in range(start, end + 1))))
    return bins


def row_count(lf: pl.LazyFrame) -> int:
    return int(lf.select(pl.len()).collect().item())
