"""The manifest (machine-readable) and the dataset card (README.md) of a finished build."""

from __future__ import annotations

import platform
import re
from collections import Counter
from itertools import chain, count
from importlib import metadata
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined

from agentfab import __version__
from agentfab.flows.coverage import card_section
from agentfab.inspect.summary import quality_rows
from agentfab.schemas.codes import STAGES, describe
from agentfab.schemas.manifest import (LineageEntry, Manifest, ManifestNegatives, ReasonCount, RowCounts, ShardStats,
                                       StageFunnel)

_TOKEN = re.compile(r"[a-z0-9]+(?:[-'.][a-z0-9]+)*")
_INT64_MAX = int(np.iinfo(np.int64).max)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    out = {"agentfab": __version__, "python": platform.python_version()}
    out.update({d: _version(d) for d in ("prefect", "pyarrow", "polars", "faker", "pydantic")})
    return out


def distinct_ns(texts: list[str], ns: tuple[int, ...] = (1, 2, 3)) -> dict[str, float]:
    """Distinct n-grams / total n-grams over all texts, per n (lexical diversity; 1.0 = nothing repeats).

    Each distinct token gets a number, and an n-gram is the number of its tokens read in base (distinct tokens),
    made for every position at once and counted by sorting: finalize measures 10,000 sampled rows' texts three
    times (~740k tokens), which as sets of string tuples cost ~0.8 s of the driver's CPU after the last shard."""
    per_text = [_TOKEN.findall(text.lower()) for text in texts]
    tokens = list(chain.from_iterable(per_text))
    number = dict(zip(dict.fromkeys(tokens), count()))
    base = max(len(number), 1)
    ids = np.fromiter(map(number.__getitem__, tokens), np.int64, len(tokens))
    lengths = np.fromiter(map(len, per_text), np.int64, len(per_text))
    left = np.repeat(np.cumsum(lengths), lengths) - np.arange(len(tokens))  # tokens from each one to its text's end
    ratios: dict[int, float] = {}
    codes = ids  # codes[p]: the n-gram starting at token p (it may run past its text's end: `left` says)
    for n in range(1, max(ns, default=0) + 1):
        if n > 1:
            if codes.size and int(codes.max()) > (_INT64_MAX - base) // base:  # renumbered densely (never yet)
                codes = np.unique(codes, return_inverse=True)[1].astype(np.int64)
            codes = codes[:-1] * base + ids[n - 1:]
        grams = np.sort(codes[left[:codes.size] >= n])
        distinct = int(np.count_nonzero(grams[1:] != grams[:-1])) + 1 if grams.size else 0
        ratios[n] = round(distinct / grams.size, 4) if grams.size else 0.0
    return {f"distinct_{n}": ratios[n] for n in ns}


def _ordered(counts: dict[str, int]) -> dict[str, int]:
    """Values in their natural order: numbers as numbers (2 before 10), words alphabetically."""
    return dict(sorted(counts.items(), key=lambda kv: (len(kv[0]), kv[0]) if kv[0].isdigit() else (0, kv[0])))


class StatsTotals:
    """The manifest's counting sections, summed as each shard's stats are read (no shard's stats are kept)."""

    def __init__(self) -> None:
        self.funnel = {s: StageFunnel() for s in STAGES}
        self.merged: dict[str, Counter[str]] = {k: Counter() for k in ("reasons", "fallbacks", "negatives",
                                                                        "negative_reasons", "timings")}
        self.dists: dict[str, Counter[str]] = {}
        self.rows = RowCounts()

    def add(self, st: ShardStats) -> None:
        self.rows.accepted += st.rows.accepted
        self.rows.rejected += st.rows.rejected
        for stage, counts in st.funnel.items():
            total = self.funnel.setdefault(stage, StageFunnel())
            total.entered += counts.entered
            total.rejected += counts.rejected
        merged = self.merged
        merged["reasons"].update(st.reasons)
        merged["fallbacks"].update(st.fallbacks)
        merged["negatives"].update(st.negatives.model_dump())
        merged["negative_reasons"].update(st.negative_reasons)
        merged["timings"].update(st.timings)
        for name, counts in st.distributions.items():
            self.dists.setdefault(name, Counter()).update(counts)

    def result(self) -> dict[str, Any]:
        funnel = {stage: f.model_copy() for stage, f in self.funnel.items()}
        for stage in funnel.values():
            stage.passed = stage.entered - stage.rejected
        merged = self.merged
        return {
            "rows": self.rows.model_copy(),
            "funnel": funnel,
            "reasons": {code: ReasonCount(count=n, meaning=describe(code))
                        for code, n in sorted(merged["reasons"].items())},
            "fallbacks": dict(merged["fallbacks"]),
            "negatives": ManifestNegatives(**merged["negatives"],
                                           reasons=dict(sorted(merged["negative_reasons"].items()))),
            "distributions": {name: _ordered(c) for name, c in sorted(self.dists.items())},
            "stage_seconds": {k: round(v, 3) for k, v in sorted(merged["timings"].items())},
        }


_MARKDOWN = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|"})


def _escape_markdown(value: Any) -> str:
    """Every value the card shows: HTML in it stays text on the Hub, and a `|` cannot split a table cell."""
    return "" if value is None else str(value).translate(_MARKDOWN)


CARD = Environment(loader=PackageLoader("agentfab.flows", "templates"), autoescape=False, finalize=_escape_markdown,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def lineage_rows(manifest: Manifest, building: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """The card's versions table: every complete version (a build from before versions is version 1), and the one
    `building` describes (version, seed, recipe_hash, shards) as not complete."""
    m = manifest
    done = m.lineage or [LineageEntry(version=1, seed=m.seed, recipe_hash=m.recipe_hash, rows=m.rows,
                                      shards=[f"shard-{i:05d}" for i in range(m.shards)])]
    rows: list[tuple[Any, ...]] = [
        (v.version, v.parent or "-", v.seed, (v.recipe_hash or "")[:12], len(v.shards), v.rows.accepted,
         v.rows.rejected, sum(v.moved_across_shards.values()), v.contaminated, f"yes ({v.finished_at})"
         if v.finished_at else "yes") for v in done]
    if building is not None:
        rows.append((building["version"], done[-1].version, building["seed"], building["recipe_hash"][:12],
                     building["shards"], "-", "-", "-", "-", "no: in progress"))
    return rows


def dataset_card(manifest: Manifest, building: dict[str, Any] | None = None) -> str:
    """README.md of the dataset; `building`: a version being added now, listed as not complete."""
    m = manifest
    dist = m.distributions
    return CARD.get_template("card.md.j2").render(
        m=m,
        lineage=lineage_rows(m, building),
        counts=[("tasks requested", m.records), ("accepted rows", m.rows.accepted), ("rejected rows", m.rows.rejected),
                ("shards", m.shards), ("deliberate negatives", m.negatives.made),
                ("negatives caught by their expected code", m.negatives.caught_by_expected_code),
                ("negatives that escaped", m.negatives.escaped)],
        funnel=[(s, m.funnel[s].entered, m.funnel[s].passed, m.funnel[s].rejected)
                for s in sorted(m.funnel, key=lambda s: (STAGES.index(s) if s in STAGES else len(STAGES), s))],
        reasons=[(c, r.count, r.meaning) for c, r in m.reasons.items()] or [("none", 0, "")],
        distributions=[(name, list(_ordered(dist.get(name, {})).items()))
                       for name in ("domain", "kind", "depth", "width", "n_turns", "n_calls")],
        tools=sorted(dist.get("tools_used", {}).items(), key=lambda kv: -kv[1])[:15],
        versions=sorted(m.versions.items()),
        llm=None if m.llm is None else llm_card(m.llm),
        quality=quality_rows(m),
        coverage=card_section(m.coverage),
    )


def llm_card(llm: dict[str, Any]) -> dict[str, Any]:
    """The dataset card's LLM section: what each role asked and spent, and the cost of an accepted row."""
    rows = [(role, u["requests"], u["cache_hits"], u["retries"], u["prompt_tokens"], u["completion_tokens"],
             f"{u['cost_usd']:.4f}", u["mean_latency_ms"], u["p95_latency_ms"],
             ", ".join(f"{k} {v}" for k, v in u["failures"].items()) or "-")
            for role, u in llm["usage"].items()]
    per = llm["cost_per_accepted_usd"]
    return {"rows": rows,
            "total": f"{llm['requests']} requests, {llm['cache_hits']} answered from the request cache, "
                     f"{llm['cost_usd']:.4f} USD" + (f", {per:.6f} USD per accepted row." if per is not None else "."),
            "counts": ", ".join(f"{k} {v}" for k, v in llm["counts"].items()) or "none"}
