"""One budget for the composer memos of every seeded variant in a process.

A worker holds every variant of every domain of the recipe (~280 for the quickstart), whose per-variant caps fill
only slowly, so a 1M-task build kept growing. Every memo entry is counted here; over the budget, every registered
holder forgets (its memos are pure functions of the seeded state: forgetting costs time, never changes a row).
A tool's checked arguments and a variant's chain links are counted too: capped per holder or not at all, they grew
a worker by ~1 MB of Python objects per shard of 5,000 tasks after the composer memos had reached the budget
(sets of argument keys +3,000 and links +2,000 per shard, with no end in sight at 70,000 tasks).
"""

from __future__ import annotations

import weakref
from typing import Protocol

READS_KEPT = 4096  # entries one holder keeps of one memo (a variant rarely sees 500 answers in 12,000 tasks)
KEPT_IN_PROCESS = 65_536

_HOLDERS: "weakref.WeakValueDictionary[int, MemoHolder]" = weakref.WeakValueDictionary()  # by id: a tool is unhashable
_kept = [0]


class MemoHolder(Protocol):
    def forget(self) -> None: ...


def hold(holder: MemoHolder) -> None:
    """Count `holder` in the budget: it forgets with all the others when the process keeps too much."""
    _HOLDERS[id(holder)] = holder


def kept_one() -> None:
    """Count one memoized entry; over the process's budget, every holder forgets."""
    _kept[0] += 1
    if _kept[0] > KEPT_IN_PROCESS:
        for holder in list(_HOLDERS.values()):
            holder.forget()
        _kept[0] = 0
