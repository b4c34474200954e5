"""Quality figures of a finished build, measured on the rows it wrote (manifest key `quality`, dataset card and HTML
report): how much of what requests ask is stated, template-lint hits, lexical diversity of user and assistant text,
how varied created ids are, which error types the trajectories meet, and how often negatives give themselves away.

Other stages may add their own figures to the same `quality` mapping (one flat level of named figures).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pyarrow.parquet as pq

from agentfab.flows.manifest import distinct_ns
from agentfab.schemas.answers import flatten, mentioned
from agentfab.schemas.codes import Reason
from agentfab.schemas.tasks import PlanStep, required_facts
from agentfab.validators.replay import turn_replies

_COLUMNS = ["content", "ground_truth", "n_turns"]


def _rows(folder: Path, columns: list[str], limit: int) -> Iterator[dict[str, Any]]:
    seen = 0
    for path in sorted(folder.glob("shard-*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches(batch_size=2000, columns=columns):
            for row in batch.to_pylist():
                if seen >= limit:
                    return
                seen += 1
                yield row


def _facts(row: dict[str, Any]) -> tuple[int, int]:
    """(asked, stated) fact values of one row."""
    gt = row["ground_truth"]
    plan = [PlanStep(id=s["id"], tool=s["tool"], arguments={}, turn=s["turn"], asks=s.get("asks") or [])
            for s in gt["plan"]]
    results = {s["id"]: json.loads(s["result"]) for s in gt["plan"]}
    replies = turn_replies(row["content"])
    replies = replies[1:] if gt.get("clarify_param") else replies  # the clarifying question is no reply
    asked = stated = 0
    for t in range(row["n_turns"]):
        reply = flatten(replies[t]) if t < len(replies) else ""
        for fact in required_facts(plan, results, t):
            asked += len(fact.values)
            stated += sum(mentioned(reply, v) for v in fact.values)
    return asked, stated


def measure_quality(out: Path, negatives: dict[str, Any], limit: int = 50_000) -> dict[str, Any]:
    """The build's quality figures from its accepted rows (up to `limit`) and its rejected generated rows."""
    asked = stated = 0
    user_texts: list[str] = []
    assistant_texts: list[str] = []
    created: list[str] = []
    errors: Counter[str] = Counter()
    rows = 0
    for row in _rows(out / "shards", _COLUMNS, limit):
        rows += 1
        a, s = _facts(row)
        asked += a
        stated += s
        for ev in row["content"]:
            if ev.get("class_") == "text_observation" and ev.get("source") == "user":
                user_texts.append(ev.get("content") or "")
            elif ev.get("class_") == "message_action":
                assistant_texts.append(ev.get("content") or "")
            elif ev.get("source") == "environment" and (ev.get("content") or "").startswith('{"error"'):
                try:
                    errors[str(json.loads(ev["content"])["error"].get("type", "unknown"))] += 1
                except (ValueError, KeyError, TypeError, AttributeError):
                    errors["unparsable"] += 1
        created += [c["key"] for c in row["ground_truth"]["state_changes"] if c["before"] is None]
    leaks = generated = 0
    for row in _rows(out / "rejected", ["verification", "provenance"], limit):
        if (row["provenance"] or {}).get("negative"):
            continue
        generated += 1
        leaks += Reason.TEMPLATE_LEAK in (row["verification"]["reasons"] or [])
    made = negatives.get("made", 0)
    return {
        "rows_measured": rows,
        "asked_facts": asked,
        "asked_facts_stated_share": round(stated / asked, 4) if asked else 1.0,
        "template_lint_rejected_rows": leaks,
        "user_text": distinct_ns(user_texts),
        "assistant_text": distinct_ns(assistant_texts),
        "created_ids": len(created),
        "created_ids_distinct_share": round(len(set(created)) / len(created), 4) if created else 1.0,
        "error_types": dict(sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))),
        "negative_giveaway_rate": round(negatives.get("giveaway", 0) / made, 4) if made else 0.0,
    }
