"""Tool and domain coverage of a finished build: how many tools and domains the recipe offered, how many the
accepted rows call, and how the calls spread over tools. Written to the manifest (`coverage`), the dataset card and
the HTML report.

Calls are counted from the accepted rows' API actions (every call, retries included), per (domain, tool): two
synthesized domains can both have a `get_patient`, and they are different tools. Each shard counts its own as it
writes them (flows.quality); finalize adds them up.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import median
from typing import Any

from agentfab.flows.recipe import Recipe
from agentfab.flows.worlds import expand_worlds
from agentfab.worlds.core import Domain

NEVER_CALLED_SHOWN = 30


def coverage(domains: list[Domain], counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    per_domain: dict[str, Any] = {}
    called: list[int] = []
    never: list[str] = []
    by_source: dict[str, dict[str, int]] = {}
    for d in domains:
        source = d.tools[0].spec.source if d.tools else "builtin"
        mine = [counts.get((d.name, t.name), 0) for t in d.tools]
        used = [n for n in mine if n]
        called += used
        never += [f"{d.name}.{t.name}" for t, n in zip(d.tools, mine) if not n]
        per_domain[d.name] = {"source": source, "tools_offered": len(d.tools), "tools_called": len(used),
                              "calls": sum(used)}
        src = by_source.setdefault(source, {"domains": 0, "tools_offered": 0, "tools_called": 0, "calls": 0})
        src["domains"] += 1
        src["tools_offered"] += len(d.tools)
        src["tools_called"] += len(used)
        src["calls"] += sum(used)
    return {
        "domains_offered": len(domains),
        "domains_called": sum(1 for v in per_domain.values() if v["tools_called"]),
        "tools_offered": sum(len(d.tools) for d in domains),
        "tools_called": len(called),
        "calls": sum(called),
        "calls_per_called_tool": ({"min": min(called), "median": median(called), "max": max(called)}
                                  if called else {"min": 0, "median": 0, "max": 0}),
        "by_source": dict(sorted(by_source.items())),
        "domains": per_domain,
        "never_called": never[:NEVER_CALLED_SHOWN],
        "never_called_count": len(never),
    }


def build_coverage(recipe: Recipe, out: Path, counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    """The coverage of the build in `out`, with its worlds found where build.json pinned their files; `counts`:
    (domain, tool) -> calls in the accepted rows (the shards count them as they write, flows.quality)."""
    files: dict[str, str] = {}
    marker = out / "build.json"
    if marker.exists():
        files = json.loads(marker.read_text()).get("world_files", {})
    domains = [d for _, d in expand_worlds(recipe.worlds, Path.cwd(), files)]
    return coverage(domains, counts)


def _line(c: dict[str, Any]) -> str:
    return (f"{c['tools_called']:,} of {c['tools_offered']:,} tools called in {c['domains_called']} of "
            f"{c['domains_offered']} domains; {c['calls']:,} calls")


def card_section(c: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the dataset card's "Tool coverage" section shows (None for manifests written before coverage existed);
    the card template lays it out and escapes it."""
    if not c:
        return None
    per = c["calls_per_called_tool"]
    more = c["never_called_count"] - len(c["never_called"])
    return {
        "line": f"{_line(c)} (calls per called tool: min {per['min']}, median {per['median']}, max {per['max']}).",
        "sources": [(s, v["domains"], v["tools_offered"], v["tools_called"], v["calls"])
                    for s, v in c["by_source"].items()],
        "domains": [(name, v["source"], v["tools_offered"], v["tools_called"], v["calls"])
                    for name, v in c["domains"].items()],
        "never": (f"Never called ({c['never_called_count']}): {', '.join(c['never_called'])}"
                  + (f", and {more} more" if more else "")) if c["never_called_count"] else None,
        "synthesized": any(v["source"] == "synthesized" for v in c["domains"].values()),
    }
