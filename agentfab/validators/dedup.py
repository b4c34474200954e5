"""Exact and near-duplicate detection over the rows a shard accepts, in a fixed order (so results are seeded).

Exact: the same request text and the same calls with the same results. Near: the Jaccard similarity of the sets
of calls (tool + arguments) reaches the threshold; for call-free tasks, of the request's word sets.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from agentfab.schemas.codes import Reason
from agentfab.schemas.tasks import Task
from agentfab.validators.reading import Reading, reading_of
from agentfab.worlds.core import canonical_bytes, canonical_json

_WORD = re.compile(r"[a-z0-9][a-z0-9\-_.@]*")


def exact_key(task: Task, content: list[dict[str, Any]], reading: Reading | None = None) -> str:
    """The SHA-256 of the canonical JSON of [domain, the user's texts, the calls, the task's results], hashed as
    orjson writes it (UTF-8 bytes, not decoded to be encoded again). `reading`: the record's reading of `content`
    (one is made when None)."""
    read = reading_of(content, reading)
    texts = [content[i].get("content") for i in read.from_user]
    calls = [[content[i]["function"], content[i]["kwargs"]] for i in read.calls]
    whole = [task.domain, texts, calls, task.results]
    return hashlib.sha256(canonical_bytes(whole)).hexdigest()


def features(task: Task, arguments: list[str] | None = None) -> set[Any]:
    """A planned call is the pair (tool, canonical JSON of its arguments): a pair hashes and compares as the text
    of the two would, without writing that text for every step of every row. `arguments`: the canonical JSON of
    each step's arguments, in plan order, when it is written already (a `Reading`'s `plan_arguments`)."""
    if task.plan:
        if arguments is not None and len(arguments) == len(task.plan):
            return {(s.tool, a) for s, a in zip(task.plan, arguments)}
        return {(s.tool, canonical_json(s.arguments)) for s in task.plan}
    return {"w:" + w for t in task.user_turns for w in _WORD.findall(t.text.lower())}


class Deduper:
    """Near duplicates are found by prefix filtering: with the features of every row in one fixed order (sorted), a
    row at Jaccard >= t from another shares at least ceil(t * n) of its n features with it, so the two rows' first
    n - ceil(t * n) + 1 features have one in common. Only those first features are indexed and looked up (one
    feature of a row of up to nine, at t = 0.9); each candidate's exact similarity is then computed, and the earliest
    accepted row similar enough is reported, as a scan of every accepted row in order would report it."""

    def __init__(self, near_threshold: float = 0.9, seen_keys: set[str] | None = None):
        self.near_threshold = near_threshold
        self.keys: set[str] = set(seen_keys or ())
        self._by_feature: dict[Any, list[int]] = {}  # a leading feature -> the accepted rows it leads, in order
        self._sets: list[set[Any]] = []

    def _leading(self, feats: set[Any]) -> list[Any]:
        """The features of `feats` that a row similar enough to it shares one of with its own leading features."""
        n = len(feats)
        # the least overlap a row passing the check can have, rounded down past float error: never too high
        overlap = math.ceil(self.near_threshold * n - 1e-9)
        lead = n - overlap + 1 if overlap > 0 else n
        if lead == 1:
            return [min(feats)]
        return sorted(feats)[:lead]

    def check(self, task: Task, content: list[dict[str, Any]], key: str | None = None,
              arguments: list[str] | None = None) -> tuple[str, str] | None:
        """A (code, detail) when this row duplicates an accepted one; otherwise remembers it and returns None.
        `arguments`: the canonical JSON of each step's arguments (see `features`)."""
        key = exact_key(task, content) if key is None else key
        if key in self.keys:
            return (Reason.EXACT_DUPLICATE, f"same request and calls as an accepted row ({key[:12]})")
        feats = features(task, arguments)
        near = bool(feats) and self.near_threshold < 1.0
        leading = self._leading(feats) if near else []
        if near:
            found = [self._by_feature.get(f, ()) for f in leading]
            candidates = found[0] if len(found) == 1 else sorted(set().union(*found))
            sets, n = self._sets, len(feats)
            for i in candidates:  # in row order: the first similar enough is the earliest
                common = len(feats & sets[i])
                similarity = common / (n + len(sets[i]) - common)
                if similarity >= self.near_threshold:
                    return (Reason.NEAR_DUPLICATE, f"Jaccard {similarity:.2f} with an accepted row")
        self.keys.add(key)
        index = len(self._sets)
        self._sets.append(feats)
        for f in leading:
            self._by_feature.setdefault(f, []).append(index)
        return None
