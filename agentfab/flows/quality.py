"""Quality figures of a build (manifest key `quality`, dataset card and HTML report): how much of what requests ask
is stated, template-lint hits, lexical diversity of user and assistant text, how varied created ids are, which
error types the trajectories meet, and how often negatives give themselves away.

Measured where the rows are made: a shard measures its own rows as it writes them (`shard_quality`, kept in its
stats with the tool calls the coverage counts), cross-shard dedup subtracts the rows it moves (`remove_rows`), and
finalize adds the shards up (`merge_quality`) without re-reading a row. Lexical diversity does not add up over
shards: it is measured on a sample of DIVERSITY_SAMPLE accepted rows spread evenly over the shards (the first rows
of each), taken during finalize's one pass over the data, so the figure compares across builds of any size. The
sample keeps only the texts it measures (`SampleRow`), never whole rows, and the shards' figures are added up one
shard at a time (`QualityTotals`): finalize holds nothing per shard.

Other stages may add their own figures to the same `quality` mapping (one flat level of named figures).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from agentfab.flows.manifest import distinct_ns
from agentfab.schemas.answers import flatten, mentioned
from agentfab.schemas.codes import Reason
from agentfab.schemas.manifest import ShardQuality
from agentfab.schemas.rows import returns_of
from agentfab.schemas.tasks import PlanStep, described_by, required_facts
from agentfab.validators.replay import turn_replies

DIVERSITY_SAMPLE = 10_000  # accepted rows whose texts the diversity figures measure
SAMPLE_COLUMNS = ["query", "content"]
SampleRow = tuple[str, tuple[str, ...], tuple[str, ...]]  # a sampled row's request, user texts, assistant texts


def _facts(row: dict[str, Any]) -> tuple[int, int]:
    """(asked, stated) fact values of one row."""
    gt = row["ground_truth"]
    plan = [PlanStep(id=s["id"], tool=s["tool"], arguments={}, turn=s["turn"], asks=s.get("asks") or [])
            for s in gt["plan"]]
    results = {s["id"]: json.loads(s["result"]) for s in gt["plan"]}
    described = described_by(plan, returns_of(row["tools"]))
    replies = turn_replies(row["content"])
    replies = replies[1:] if gt.get("clarify_param") else replies  # the clarifying question is no reply
    asked = stated = 0
    for t in range(row["n_turns"]):
        reply = flatten(replies[t]) if t < len(replies) else ""
        for fact in required_facts(plan, results, t, described):
            asked += len(fact.values)
            stated += sum(mentioned(reply, v) for v in fact.values)
    return asked, stated


def _error_type(text: str) -> str:
    try:
        return str(json.loads(text)["error"].get("type", "unknown"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "unparsable"


class QualityTally:
    """Accepted rows' figures added (sign 1) or taken away (sign -1) one row at a time, onto `quality`'s: a shard's
    rows tell it what they hold as they are made (`flows.rows.ShardRows`), a row read back from a file by `add_row`."""

    def __init__(self, quality: ShardQuality):
        self.quality = quality
        # plain counts, set on `quality` by `result` (a pydantic model's attribute costs a validated __setattr__)
        self.rows, self.asked, self.stated = quality.rows, quality.asked_facts, quality.stated_facts
        # plain dicts, not Counters: a Counter's item assignment goes through a Python-level slot (it defines
        # __delitem__), and a row adds to these a few times
        self.errors: dict[str, int] = dict(quality.error_types)
        self.created: dict[str, int] = dict(quality.created_ids)
        self.calls: dict[str, dict[str, int]] = {domain: dict(c) for domain, c in quality.calls.items()}

    def add(self, domain: str, functions: Iterable[Any], errors: Iterable[str], created: Iterable[str],
            facts: tuple[int, int], sign: int = 1) -> None:
        """One row: the function of each call it makes, the text of each error result, the key of each record it
        creates, and its (asked, stated) fact values."""
        self.rows += sign
        self.asked += sign * facts[0]
        self.stated += sign * facts[1]
        mine = self.calls.get(domain)
        if mine is None:
            mine = self.calls[domain] = {}
        for function in functions:
            if function:
                mine[function] = mine.get(function, 0) + sign
        if errors:
            counts = self.errors
            for text in errors:
                kind = _error_type(text)
                counts[kind] = counts.get(kind, 0) + sign
        if created:
            counts = self.created
            for key in created:
                counts[key] = counts.get(key, 0) + sign

    def add_row(self, row: dict[str, Any], facts: tuple[int, int] | None = None, sign: int = 1) -> None:
        """A row as stored (a dict); `facts` as its ground-truth check counted them (None: read off the row)."""
        functions, errors = [], []
        for ev in row["content"]:
            if ev.get("class_") == "api_action":
                functions.append(ev.get("function"))
            elif ev.get("source") == "environment" and (ev.get("content") or "").startswith('{"error"'):
                errors.append(ev["content"])
        created = [c["key"] for c in row["ground_truth"]["state_changes"] if c["before"] is None]
        self.add(row["domain"], functions, errors, created, facts if facts is not None else _facts(row), sign)

    def result(self) -> ShardQuality:
        """`quality` with the rows added (counts that reached 0 go)."""
        quality = self.quality
        quality.rows, quality.asked_facts, quality.stated_facts = self.rows, self.asked, self.stated
        quality.error_types = {k: n for k, n in sorted(self.errors.items()) if n > 0}
        quality.created_ids = {k: n for k, n in sorted(self.created.items()) if n > 0}
        calls = {d: {t: n for t, n in sorted(c.items()) if n > 0} for d, c in sorted(self.calls.items())}
        quality.calls = {d: c for d, c in calls.items() if c}
        return quality


def _count(quality: ShardQuality, rows: Iterable[dict[str, Any]], sign: int,
           facts: list[tuple[int, int] | None] | None = None) -> None:
    """Add (sign 1) or take away (sign -1) accepted rows' figures; counts that reach 0 go. `facts` holds each row's
    (asked, stated) when the ground-truth check already counted them (None: read them off the row)."""
    tally = QualityTally(quality)
    for n, row in enumerate(rows):
        tally.add_row(row, facts[n] if facts is not None else None, sign)
    tally.result()


def is_lint_rejected(negative: str | None, reasons: Iterable[str]) -> bool:
    """A generated row (not a negative) the template lint rejected."""
    return not negative and Reason.TEMPLATE_LEAK in reasons


def shard_quality(accepted: list[dict[str, Any]], rejected: list[dict[str, Any]],
                  facts: list[tuple[int, int] | None] | None = None) -> ShardQuality:
    """The figures of one shard's rows (row dicts as written), for its stats; `facts`: each accepted row's
    (asked, stated) as its ground-truth check counted them, or None where it did not."""
    quality = ShardQuality()
    _count(quality, accepted, 1, facts)
    quality.template_lint_rejected_rows = sum(
        1 for row in rejected
        if is_lint_rejected((row["provenance"] or {}).get("negative"), row["verification"]["reasons"] or []))
    return quality


def remove_rows(quality: ShardQuality, removed: Iterable[dict[str, Any]]) -> ShardQuality:
    """The figures without accepted rows moved out of the shard since (cross-shard dedup)."""
    quality = quality.model_copy(deep=True)
    _count(quality, removed, -1)
    return quality


def file_quality(accepted: Path, rejected: Path) -> ShardQuality:
    """The figures of a shard whose stats predate them, read from its files (once, for this shard only)."""
    columns = ["domain", "content", "ground_truth", "n_turns", "tools"]
    return shard_quality(pq.read_table(accepted, columns=columns).to_pylist(),
                         pq.read_table(rejected, columns=["verification", "provenance"]).to_pylist())


def per_shard_sample(n_shards: int) -> int:
    """Rows each shard gives the diversity sample."""
    return math.ceil(DIVERSITY_SAMPLE / max(1, n_shards))


def sample_texts(table: pa.Table) -> list[SampleRow]:
    """The texts the diversity figures measure, per row of a table with SAMPLE_COLUMNS: its request, its user
    turns (text observations from the user) and the assistant's messages, in order."""
    content = table.column("content").combine_chunks()
    offsets = content.offsets.to_numpy()
    events = content.values
    kinds = pc.struct_field(events, "class_").to_pylist()
    sources = pc.struct_field(events, "source").to_pylist()
    texts = pc.struct_field(events, "content").to_pylist()
    base = offsets[0]
    out: list[SampleRow] = []
    for query, lo, hi in zip(table.column("query").to_pylist(), offsets[:-1].tolist(), offsets[1:].tolist()):
        user, assistant = [], []
        for e in range(lo - base, hi - base):
            if kinds[e] == "text_observation" and sources[e] == "user":
                user.append(texts[e] or "")
            elif kinds[e] == "message_action":
                assistant.append(texts[e] or "")
        out.append((query, tuple(user), tuple(assistant)))
    return out


def read_sample(path: Path, rows: int) -> list[SampleRow]:
    """The texts of the first `rows` accepted rows of a shard file (see `sample_texts`)."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=SAMPLE_COLUMNS):
        return sample_texts(pa.Table.from_batches([batch]))
    return []


class QualityTotals:
    """The shards' figures added up as each shard's are read, so that no shard's figures are kept."""

    def __init__(self) -> None:
        self.total = ShardQuality()
        self.errors: Counter[str] = Counter()
        self.created: Counter[str] = Counter()
        self.calls: Counter[tuple[str, str]] = Counter()

    def add(self, q: ShardQuality) -> None:
        self.total.rows += q.rows
        self.total.asked_facts += q.asked_facts
        self.total.stated_facts += q.stated_facts
        self.total.template_lint_rejected_rows += q.template_lint_rejected_rows
        self.errors.update(q.error_types)
        self.created.update(q.created_ids)
        for domain, tools in q.calls.items():
            self.calls.update({(domain, tool): n for tool, n in tools.items()})

    def merged_calls(self) -> dict[tuple[str, str], int]:
        """(domain, tool) -> calls in the accepted rows, for the coverage."""
        return dict(self.calls)

    def figures(self, sample: list[SampleRow], negatives: dict[str, Any]) -> dict[str, Any]:
        """The build's quality figures: the shards' added up, diversity from `sample`."""
        total, created = self.total, self.created
        user_texts = [t for _, user, _ in sample for t in user]
        assistant_texts = [t for _, _, assistant in sample for t in assistant]
        made = negatives.get("made", 0)
        asked, n_created = total.asked_facts, sum(created.values())
        return {
            "rows_measured": total.rows,
            "asked_facts": asked,
            "asked_facts_stated_share": round(total.stated_facts / asked, 4) if asked else 1.0,
            "template_lint_rejected_rows": total.template_lint_rejected_rows,
            "diversity_rows_measured": len(sample),
            "user_text": distinct_ns(user_texts),
            "assistant_text": distinct_ns(assistant_texts),
            "created_ids": n_created,
            "created_ids_distinct_share": round(len(created) / n_created, 4) if n_created else 1.0,
            "error_types": dict(sorted(self.errors.items(), key=lambda kv: (-kv[1], kv[0]))),
            "negative_giveaway_rate": round(negatives.get("giveaway", 0) / made, 4) if made else 0.0,
        }
