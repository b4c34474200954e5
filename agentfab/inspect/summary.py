"""A build at a glance in the terminal: counts, the funnel with reason codes, distributions and lengths."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.columns import Columns
from rich.table import Table
from rich.text import Text

from agentfab.inspect import stats
from agentfab.inspect.dataset import open_build
from agentfab.schemas.codes import STAGES, describe
from agentfab.schemas.manifest import Manifest

WIDTH = 100


def _table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Table:
    """A table whose numeric columns are right-aligned; cells are plain text (dataset values are never markup)."""
    table = Table(title=Text(title, style="bold"), title_justify="left", header_style="bold")
    for i, name in enumerate(header):
        numeric = bool(rows) and all(isinstance(r[i], (int, float)) or str(r[i]).endswith("%") for r in rows)
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(c)) for c in row))
    return table


def _share(n: int, total: int) -> str:
    return f"{100 * n / total:.1f}%" if total else "-"


def _distribution(title: str, pairs: list[tuple[str, int]]) -> Table:
    total = sum(n for _, n in pairs)
    return _table(title, ("value", "rows", "share"), [(v, n, _share(n, total)) for v, n in pairs])


def counts_rows(manifest: Manifest) -> list[tuple[str, Any]]:
    m, neg = manifest, manifest.negatives
    return [("tasks requested", m.records), ("accepted rows", m.rows.accepted), ("rejected rows", m.rows.rejected),
            ("shards", m.shards), ("deliberate negatives", neg.made),
            ("negatives caught by their expected code", neg.caught_by_expected_code),
            ("negatives that escaped", neg.escaped)]


def funnel_rows(manifest: Manifest) -> list[tuple[str, int, int, int]]:
    funnel = manifest.funnel
    order = [s for s in STAGES if s in funnel] + sorted(set(funnel) - set(STAGES))
    return [(s, funnel[s].entered, funnel[s].entered - funnel[s].rejected, funnel[s].rejected) for s in order]


def reason_rows(manifest: Manifest, on_disk: list[tuple[str, int]]) -> list[tuple[str, int, int, int, str]]:
    """Per code: rows of generated trajectories it rejected, negatives it caught, rows carrying it on disk."""
    generated = {code: r.count for code, r in manifest.reasons.items()}
    negatives = manifest.negatives.reasons
    disk = dict(on_disk)
    codes = sorted(set(generated) | set(negatives) | set(disk), key=lambda c: (-disk.get(c, 0), c))
    return [(c, generated.get(c, 0), negatives.get(c, 0), disk.get(c, 0), describe(c)) for c in codes]


def summarize(dataset_dir: str | Path, version: int | None = None) -> str:
    """The terminal summary of a finished build (or of one of its versions), as text (rich tables, no colours)."""
    build = open_build(dataset_dir, version)
    m = build.manifest
    accepted, rejected = build.scan("accepted"), build.scan("rejected")
    console = Console(file=io.StringIO(), record=True, width=WIDTH, color_system=None, force_terminal=False,
                      force_jupyter=False)
    header = Text(m.name or build.path.name, style="bold")
    header.append(f"  recipe {m.recipe_hash[:16]}  seed {m.seed}  engine {m.engine}  folder {build.path}", style="")
    if build.version is not None:
        header.append(f"  version {build.version} of {len(m.lineage or [])} (rows on disk: as of this version; "
                      "counts and funnel: the whole dataset)")
    console.print(header)

    counts = counts_rows(m) + [("accepted rows on disk", stats.row_count(accepted)),
                               ("rejected rows on disk", stats.row_count(rejected))]
    console.print(Columns([_table("Counts", ("", "count"), counts),
                           _table("Funnel (negatives not included)", ("stage", "entered", "passed", "rejected"),
                                  funnel_rows(m))]))
    reasons = reason_rows(m, stats.reason_counts(rejected))
    console.print(_table("Reason codes", ("code", "generated", "negatives", "rows", "meaning"),
                         reasons or [("none", 0, 0, 0, "")]))

    dists = [_distribution(column, stats.value_counts(accepted, column))
             for column in ("kind", "domain", "depth", "width", "n_turns")]
    console.print(Text("Distributions of accepted rows", style="bold"))
    console.print(Columns(dists))
    depths, widths, grid = stats.depth_width(accepted)
    tables = []
    if depths:
        tables.append(_table("depth x width", ("depth",) + tuple(f"w={w}" for w in widths),
                             [(f"d={d}", *grid[i]) for i, d in enumerate(depths)]))
    tables.append(_table("Top tools by calls", ("tool", "calls"), stats.call_counts(accepted, 15)))
    console.print(Columns(tables))
    lengths = stats.length_stats(accepted)
    console.print(_table("Lengths of accepted rows", ("", "min", "mean", "median", "p95", "max"),
                         [(name, *(s[k] for k in ("min", "mean", "median", "p95", "max")))
                          for name, s in lengths.items()]))
    quality = quality_rows(m)
    if quality:
        console.print(_table("Quality", ("figure", "value"), quality))
    return console.export_text()


def quality_rows(m: Manifest) -> list[tuple[str, str]]:
    """(figure, value) rows of the manifest's `quality` section, for the dataset card and the HTML report."""
    q = m.quality or {}
    if not q:
        return []
    errors = ", ".join(f"{k} {v}" for k, v in q.get("error_types", {}).items()) or "none"
    ut, at = q.get("user_text", {}), q.get("assistant_text", {})
    return [
        ("asked facts stated", f"{q.get('asked_facts_stated_share', 0):.1%} of {q.get('asked_facts', 0):,}"),
        ("rows rejected by the template lint", f"{q.get('template_lint_rejected_rows', 0):,}"),
        ("user text distinct-1 / 2 / 3", f"{ut.get('distinct_1', 0)} / {ut.get('distinct_2', 0)} / "
                                         f"{ut.get('distinct_3', 0)}"),
        ("assistant text distinct-1 / 2 / 3", f"{at.get('distinct_1', 0)} / {at.get('distinct_2', 0)} / "
                                              f"{at.get('distinct_3', 0)}"),
        ("created ids distinct", f"{q.get('created_ids_distinct_share', 0):.1%} of {q.get('created_ids', 0):,}"),
        ("error types met", errors),
        ("negatives with a token unseen in accepted data", f"{q.get('negative_giveaway_rate', 0):.1%}"),
    ]
