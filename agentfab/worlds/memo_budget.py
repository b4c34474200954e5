"""Budgets for the memos of a process: past one, every memo it holds forgets.

A worker holds every variant of every domain of the recipe (~280 for the quickstart), whose per-variant caps fill
only slowly, so a 1M-task build kept growing. Every composer memo entry is counted in one budget; over it, every
registered holder forgets (its memos are pure functions of the seeded state: forgetting costs time, never changes
a row). A tool's checked arguments and a variant's chain links are counted too: capped per holder or not at all,
they grew a worker by ~1 MB of Python objects per shard of 5,000 tasks after the composer memos had reached the
budget (sets of argument keys +3,000 and links +2,000 per shard, with no end in sight at 70,000 tasks).

The value memos (worlds.core.Memo: a text's flattened form, a pattern's verdict on a text) have a budget of their
own: each was capped at 65,536 entries, but ~60 of them filling slowly (~1,200 new entries a shard of 5,000 tasks
together, most in the reply texts' flattened forms) grew a worker's live blocks through a 1M-task build without
reaching a cap. Their working set is small (~16,000 entries), so they start over together at VALUES_KEPT.
"""

from __future__ import annotations

import weakref
from typing import Protocol

READS_KEPT = 4096  # entries one holder keeps of one memo (a variant rarely sees 500 answers in 12,000 tasks)
KEPT_IN_PROCESS = 65_536  # composer memo entries of the process
VALUES_KEPT = 32_768  # value memo entries of the process (worlds.core.Memo)


class MemoHolder(Protocol):
    def forget(self) -> None: ...


class _Budget:
    """Holders that all forget once the entries counted since they last forgot pass a limit."""

    def __init__(self) -> None:
        # by id: a tool is unhashable, and a value memo (a dict) too
        self.holders: "weakref.WeakValueDictionary[int, MemoHolder]" = weakref.WeakValueDictionary()
        self.kept = 0

    def hold(self, holder: MemoHolder) -> None:
        self.holders[id(holder)] = holder

    def kept_one(self, limit: int) -> None:
        self.kept += 1
        if self.kept > limit:
            for holder in list(self.holders.values()):
                holder.forget()
            self.kept = 0


_COMPOSERS = _Budget()
_VALUES = _Budget()


def hold(holder: MemoHolder) -> None:
    """Count `holder` in the budget: it forgets with all the others when the process keeps too much."""
    _COMPOSERS.hold(holder)


def kept_one() -> None:
    """Count one memoized entry; over the process's budget, every holder forgets."""
    _COMPOSERS.kept_one(KEPT_IN_PROCESS)


def hold_values(memo: MemoHolder) -> None:
    """Count a value memo in the value budget: it forgets with the others past VALUES_KEPT entries."""
    _VALUES.hold(memo)


def value_kept() -> None:
    """Count one value memo entry; past VALUES_KEPT, every value memo forgets."""
    _VALUES.kept_one(VALUES_KEPT)
