"""One budget for the composer memos of every seeded variant in a process.

A worker holds every variant of every domain of the recipe (~280 for the quickstart), whose per-variant caps fill
only slowly, so a 1M-task build kept growing. Every memo entry is counted here; over the budget, every registered
holder forgets (its memos are pure functions of the seeded state: forgetting costs time, never changes a row).
"""

from __future__ import annotations

import weakref
from typing import Protocol

READS_KEPT = 4096  # entries one holder keeps of one memo (a variant rarely sees 500 answers in 12,000 tasks)
KEPT_IN_PROCESS = 65_536

_HOLDERS: "weakref.WeakSet[MemoHolder]" = weakref.WeakSet()
_kept = [0]


class MemoHolder(Protocol):
    def forget(self) -> None: ...


def hold(holder: MemoHolder) -> None:
    """Count `holder` in the budget: it forgets with all the others when the process keeps too much."""
    _HOLDERS.add(holder)


def kept_one() -> None:
    """Count one memoized entry; over the process's budget, every holder forgets."""
    _kept[0] += 1
    if _kept[0] > KEPT_IN_PROCESS:
        for holder in list(_HOLDERS):
            holder.forget()
        _kept[0] = 0
