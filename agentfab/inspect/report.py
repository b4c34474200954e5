"""The HTML report of a build: one self-contained file (inline CSS and SVG, no scripts, nothing fetched).

The page is the Jinja2 template `templates/report.html.j2`, rendered with autoescaping: every value read from the
dataset or its manifest is escaped, so a trajectory that contains markup shows it as text. Only the SVG charts of
`plots` (which escape their own labels) go in as markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from markupsafe import Markup

from agentfab.inspect import plots, stats
from agentfab.inspect.dataset import BuildDir, open_build
from agentfab.inspect.render import HTML, trajectory_view
from agentfab.inspect.summary import counts_rows, funnel_rows, quality_rows, reason_rows

SAMPLE_SCAN_LIMIT = 20_000  # rejected rows considered when pairing samples; keeps huge builds fast

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1280px;padding:16px 24px;
 color:#222;background:#fff}
h1{margin:.2em 0}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:1.6em}
.sub{color:#666}.grid{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
figure.plot{margin:0;padding:8px 10px;border:1px solid #e2e2e2;border-radius:6px;background:#fcfcfc}
figure.plot figcaption{font-weight:600;margin-bottom:4px}.note{font-weight:400;color:#777;font-size:.85em}
table{border-collapse:collapse;font-size:.9em}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;
 min-width:120px}.card b{display:block;font-size:1.4em}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:14px;margin-bottom:22px;align-items:start}
.trajectory{border:1px solid #ddd;border-radius:6px;padding:8px;font-size:.86em;min-width:0}
.trajectory.accepted{border-top:4px solid #54a24b}.trajectory.rejected{border-top:4px solid #e45756}
.badge{color:#fff;border-radius:3px;padding:1px 6px;font-size:.85em}.badge.accepted{background:#54a24b}
.badge.rejected{background:#e45756}.meta{color:#666;font-size:.9em;margin:2px 0 6px}
.ev{margin:3px 0;padding:3px 6px;border-left:3px solid #ccc}.ev pre{margin:2px 0 0;white-space:pre-wrap;
 word-break:break-word;font-size:.95em}.who{font-weight:600}.call-id{color:#888}
.ev.user{border-color:#4c78a8;background:#f2f6fb}.ev.reasoning{border-color:#bbb;color:#555;font-style:italic}
.ev.call{border-color:#f58518;background:#fff8f0}.ev.result{border-color:#72b7b2;background:#f3faf9}
.ev.reply{border-color:#54a24b;background:#f4faf2}.ev.other{border-color:#e45756}
.verdict{margin-top:6px;padding-top:4px;border-top:1px dashed #ccc}.missing{color:#888;font-style:italic}
"""


def _plot(svg: str) -> Markup:
    """A chart from `plots`: SVG markup whose labels `plots` has escaped itself."""
    return Markup(svg)


def _funnel(build: BuildDir, rejected: pl.LazyFrame) -> dict[str, Any]:
    rows = funnel_rows(build.manifest)
    funnel = plots.stacked_hbar_chart(
        "Funnel: rows per stage", [r[0] for r in rows],
        [("passed", [r[2] for r in rows], plots.GREEN), ("rejected", [r[3] for r in rows], plots.RED)],
        note="(generated trajectories; deliberate negatives not included)")
    on_disk = stats.reason_counts(rejected)
    reasons = plots.hbar_chart("Top reason codes on rejected rows", on_disk[:15], color=plots.RED,
                               note="(incl. deliberate negatives)")
    negatives = plots.hbar_chart("Deliberate negatives by perturbation", stats.negative_counts(rejected),
                                 color=plots.GREY)
    return {"plots": [_plot(funnel), _plot(reasons), _plot(negatives)],
            "reasons": reason_rows(build.manifest, on_disk) or [("none", 0, 0, 0, "")]}


def _shape(accepted: pl.LazyFrame) -> list[Markup]:
    depths, widths, grid = stats.depth_width(accepted)
    heat = plots.heat_map("Depth x width (accepted rows)", [str(d) for d in depths], [str(w) for w in widths],
                          grid, row_title="depth", col_title="width")
    kind = plots.bar_chart("Task kind", stats.value_counts(accepted, "kind"))
    domain = plots.bar_chart("Domain", stats.value_counts(accepted, "domain"))
    turns = plots.bar_chart("User turns per row", stats.value_counts(accepted, "n_turns"), x_label="turns")
    return [_plot(heat), _plot(kind), _plot(domain), _plot(turns)]


def _tools(build: BuildDir, accepted: pl.LazyFrame) -> dict[str, Any]:
    top = [_plot(plots.hbar_chart("Top 20 tools by calls (accepted rows)", stats.call_counts(accepted, 20)))]
    c = build.manifest.coverage
    if not c:
        return {"top": top, "coverage": None}
    return {"top": top, "coverage": {
        "tools_called": c["tools_called"], "tools_offered": c["tools_offered"], "domains_called": c["domains_called"],
        "domains_offered": c["domains_offered"], "calls": c["calls"], "per": c["calls_per_called_tool"],
        "sources": [(s, v["domains"], v["tools_offered"], v["tools_called"], v["calls"])
                    for s, v in c["by_source"].items()],
        "domains": [(d, v["source"], v["tools_offered"], v["tools_called"], v["calls"])
                    for d, v in c["domains"].items()],
        "never": c["never_called"], "never_count": c["never_called_count"],
        "more": c["never_called_count"] > len(c["never_called"])}}


def _lengths(accepted: pl.LazyFrame) -> dict[str, Any]:
    events = plots.bar_chart("Events per row", stats.histogram(stats.value_counts(accepted, stats.EVENTS)),
                             x_label="events")
    calls = plots.bar_chart("Calls per row (n_calls)", stats.histogram(stats.value_counts(accepted, "n_calls")),
                            x_label="calls")
    chars = plots.bar_chart("Characters per row",
                            stats.histogram(stats.value_counts(accepted, stats.CHARACTERS), max_bins=20),
                            x_label="characters")
    table = [(name, *(s[k] for k in ("min", "mean", "median", "p95", "max")))
             for name, s in stats.length_stats(accepted).items()]
    return {"plots": [_plot(events), _plot(calls), _plot(chars)], "table": table}


def _judge(accepted: pl.LazyFrame, rejected: pl.LazyFrame) -> list[Markup]:
    return [
        _plot(plots.bar_chart("Judge score, accepted rows", stats.value_counts(accepted, "judge_score"),
                              x_label="score")),
        _plot(plots.bar_chart("Judge score, rejected rows", stats.value_counts(rejected, "judge_score"),
                              color=plots.RED, x_label="score")),
    ]


def _llm(build: BuildDir) -> dict[str, Any] | None:
    """What each LLM role asked and spent (LLM builds only)."""
    llm = build.manifest.llm
    if not llm:
        return None
    rows = [(role, u["requests"], u["cache_hits"], u["retries"], u["prompt_tokens"], u["completion_tokens"],
             round(u["cost_usd"], 4), u["mean_latency_ms"] if u["mean_latency_ms"] is not None else "-",
             u["p95_latency_ms"] or "-", ", ".join(f"{k} {v}" for k, v in u["failures"].items()) or "-")
            for role, u in llm["usage"].items()]
    return {"rows": rows, "requests": llm["requests"], "cache_hits": llm["cache_hits"], "cost_usd": llm["cost_usd"],
            "per_accepted": llm.get("cost_per_accepted_usd")}


def pick_samples(build: BuildDir) -> list[tuple[str, str | None, str | None]]:
    """Per kind, (kind, accepted id, rejected id): a rejected row and the accepted row of the same task when one
    exists, preferring a reason code not shown yet. Deterministic: ties go to the smallest id."""
    rej = (build.scan("rejected").select("id", "task_id", "kind",
                                         pl.col("verification").struct.field("reasons").list.first().alias("reason"))
           .head(SAMPLE_SCAN_LIMIT).collect().sort("id"))
    acc = build.scan("accepted").select("id", "task_id", "kind")
    paired = acc.filter(pl.col("task_id").is_in(rej["task_id"].implode())).collect()
    first = acc.group_by("kind").agg(pl.col("id").min()).collect()
    first_of = dict(first.iter_rows())
    accepted_of_task = dict(paired.select("task_id", "id").sort("id", descending=True).iter_rows())
    picks, shown = [], set()
    for kind in sorted(set(first_of) | set(rej["kind"].to_list())):
        candidates = rej.filter(pl.col("kind") == kind).iter_rows(named=True)
        ranked = sorted(candidates, key=lambda r: (r["task_id"] not in accepted_of_task, r["reason"] in shown,
                                                   r["id"]))
        chosen = ranked[0] if ranked else None
        if chosen is not None:
            shown.add(chosen["reason"])
        acc_id = accepted_of_task.get(chosen["task_id"]) if chosen else None
        picks.append((kind, acc_id or first_of.get(kind), chosen["id"] if chosen else None))
    return picks


def _samples(build: BuildDir) -> list[dict[str, Any]]:
    picks = pick_samples(build)
    wanted = [i for _, a, r in picks for i in (a, r) if i]
    rows: dict[str, dict[str, Any]] = {}
    for split in ("accepted", "rejected"):
        for row in build.scan(split).filter(pl.col("id").is_in(wanted)).collect().iter_rows(named=True):
            rows.setdefault(row["id"], row)
    return [{"kind": kind, "sides": [{"label": label, "row": trajectory_view(rows[i]) if i in rows else None}
                                     for i, label in ((acc_id, "accepted"), (rej_id, "rejected"))]}
            for kind, acc_id, rej_id in picks]


def render_report(build: BuildDir) -> str:
    accepted, rejected = build.scan("accepted"), build.scan("rejected")
    return HTML.get_template("report.html.j2").render(
        css=Markup(CSS), name=build.manifest.name or build.path.name, m=build.manifest,
        counts=counts_rows(build.manifest), funnel=_funnel(build, rejected), shape=_shape(accepted),
        tools=_tools(build, accepted), lengths=_lengths(accepted), judge=_judge(accepted, rejected), llm=_llm(build),
        quality=quality_rows(build.manifest), samples=_samples(build))


def write_report(dataset_dir: str | Path, out_html: str | Path) -> Path:
    """Write the build's report as one self-contained HTML file and return its path."""
    build = open_build(dataset_dir)
    out = Path(out_html)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(build), encoding="utf-8")
    return out
