"""What each role spent: requests, cache hits, retries, failures, tokens, cost and latency. Mergeable across shards."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agentfab.llm.settings import Prices

LATENCY_EDGES_MS = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000)


def _bucket(ms: float) -> str:
    return next((f"<={e}" for e in LATENCY_EDGES_MS if ms <= e), f">{LATENCY_EDGES_MS[-1]}")


@dataclass
class RoleUsage:
    requests: int = 0          # HTTP requests sent (retries included)
    answers: int = 0           # answers received from the server
    cache_hits: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_seconds: float = 0.0
    public_api: int = 0        # requests sent through the openai client's public API (its private one missing)
    latency_ms: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    def answered(self, usage: dict[str, Any] | None, seconds: float, prices: Prices) -> None:
        self.answers += 1
        self.latency_seconds += seconds
        self.latency_ms[_bucket(seconds * 1000)] += 1
        usage = usage or {}
        prompt = int(usage.get("prompt_tokens") or 0)
        completion = int(usage.get("completion_tokens") or 0)
        cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        self.prompt_tokens += prompt
        self.completion_tokens += completion
        cached_price = prices.input if prices.cached_input is None else prices.cached_input
        self.cost_usd += ((prompt - cached) * prices.input + cached * cached_price + completion * prices.output) / 1e6

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "answers": self.answers, "cache_hits": self.cache_hits,
            "retries": self.retries, "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6), "latency_seconds": round(self.latency_seconds, 4),
            "public_api": self.public_api,
            "latency_ms": dict(sorted(self.latency_ms.items())), "failures": dict(sorted(self.failures.items())),
        }


def merge_usage(parts: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Sum per-role usage dicts (as `to_dict` writes them) of several shards; adds mean and p50/p95 latency."""
    out: dict[str, dict[str, Any]] = {}
    for part in parts:
        for role, u in part.items():
            acc = out.setdefault(role, {"latency_ms": Counter(), "failures": Counter()})
            for k, v in u.items():
                if isinstance(v, dict):
                    acc[k].update(v)
                else:
                    acc[k] = acc.get(k, 0) + v
    for u in out.values():
        u["cost_usd"] = round(u.get("cost_usd", 0.0), 6)
        u["latency_seconds"] = round(u.get("latency_seconds", 0.0), 4)
        u["mean_latency_ms"] = round(1000 * u["latency_seconds"] / u["answers"], 1) if u.get("answers") else None
        u["p50_latency_ms"] = _quantile(u["latency_ms"], 0.5)
        u["p95_latency_ms"] = _quantile(u["latency_ms"], 0.95)
        u["latency_ms"] = dict(sorted(u["latency_ms"].items()))
        u["failures"] = dict(sorted(u["failures"].items()))
    return dict(sorted(out.items()))


def _quantile(hist: Counter[str], q: float) -> str | None:
    """The bucket holding quantile q (an upper bound such as '<=200')."""
    total = sum(hist.values())
    if not total:
        return None
    order = [f"<={e}" for e in LATENCY_EDGES_MS] + [f">{LATENCY_EDGES_MS[-1]}"]
    seen = 0
    for b in order:
        seen += hist.get(b, 0)
        if seen >= q * total:
            return b
    return order[-1]


def llm_summary(parts: list[dict[str, Any]], accepted: int) -> dict[str, Any]:
    """The manifest's `llm` section from the shards' stats["llm"]: usage per role, totals, cost per accepted row."""
    usage = merge_usage([p.get("usage", {}) for p in parts])
    counts: Counter[str] = Counter()
    for p in parts:
        counts.update(p.get("counts", {}))
    cost = round(sum(u["cost_usd"] for u in usage.values()), 6)
    return {
        "usage": usage,
        "counts": dict(sorted(counts.items())),
        "requests": sum(u["requests"] for u in usage.values()),
        "cache_hits": sum(u["cache_hits"] for u in usage.values()),
        "cost_usd": cost,
        "cost_per_accepted_usd": round(cost / accepted, 8) if accepted else None,
    }
