"""Exact and near-duplicate detection over the rows a shard accepts, in a fixed order (so results are seeded).

Exact: the same request text and the same calls with the same results. Near: the Jaccard similarity of the sets
of calls (tool + arguments) reaches the threshold; for call-free tasks, of the request's word sets.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from agentfab.schemas.codes import Reason
from agentfab.schemas.tasks import Task
from agentfab.validators.reading import Reading, reading_of
from agentfab.worlds.core import canonical_json

_WORD = re.compile(r"[a-z0-9][a-z0-9\-_.@]*")


def exact_key(task: Task, content: list[dict[str, Any]], reading: Reading | None = None) -> str:
    """`reading`: the record's reading of `content` (one is made when None)."""
    read = reading_of(content, reading)
    texts = [content[i].get("content") for i in read.from_user]
    calls = [[content[i]["function"], content[i]["kwargs"]] for i in read.calls]
    return hashlib.sha256(canonical_json([task.domain, texts, calls, task.results]).encode()).hexdigest()


def features(task: Task, arguments: list[str] | None = None) -> set[str]:
    """`arguments`: the canonical JSON of each step's arguments, in plan order, when it is written already (a
    `Reading`'s `plan_arguments`): a list's canonical JSON is its items' joined, so they are not written again."""
    if task.plan:
        if arguments is not None and len(arguments) == len(task.plan):
            return {f"[{canonical_json(s.tool)},{a}]" for s, a in zip(task.plan, arguments)}
        return {canonical_json([s.tool, s.arguments]) for s in task.plan}
    return {"w:" + w for t in task.user_turns for w in _WORD.findall(t.text.lower())}


class Deduper:
    def __init__(self, near_threshold: float = 0.9, seen_keys: set[str] | None = None):
        self.near_threshold = near_threshold
        self.keys: set[str] = set(seen_keys or ())
        self._by_feature: dict[str, list[int]] = {}
        self._sets: list[set[str]] = []

    def check(self, task: Task, content: list[dict[str, Any]], key: str | None = None,
              arguments: list[str] | None = None) -> tuple[str, str] | None:
        """A (code, detail) when this row duplicates an accepted one; otherwise remembers it and returns None.
        `arguments`: the canonical JSON of each step's arguments (see `features`)."""
        key = exact_key(task, content) if key is None else key
        if key in self.keys:
            return (Reason.EXACT_DUPLICATE, f"same request and calls as an accepted row ({key[:12]})")
        feats = features(task, arguments)
        if feats and self.near_threshold < 1.0:
            shared: dict[int, int] = {}  # accepted row -> features in common (a row is listed once per feature)
            for f in feats:
                for i in self._by_feature.get(f, ()):
                    shared[i] = shared.get(i, 0) + 1
            first = None  # the earliest accepted row similar enough, as a scan in row order finds it
            for i, common in shared.items():
                if first is None or i < first[0]:
                    similarity = common / (len(feats) + len(self._sets[i]) - common)
                    if similarity >= self.near_threshold:
                        first = (i, similarity)
            if first is not None:
                return (Reason.NEAR_DUPLICATE, f"Jaccard {first[1]:.2f} with an accepted row")
        self.keys.add(key)
        index = len(self._sets)
        self._sets.append(feats)
        for f in feats:
            self._by_feature.setdefault(f, []).append(index)
        return None
