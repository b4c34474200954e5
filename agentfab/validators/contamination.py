"""Decontamination: does a training row contain an evaluation item?

Three tests against an index of public function-calling test sets, each naming the benchmark it hit:
- request: word 8-grams; a row is contaminated when it contains at least half of one test query's 8-grams
  (queries of 5 to 7 words must appear whole). Measured from the test item's side, so a long row that quotes a
  test query is caught, and a shared stock phrase ("what is the weather in") is not.
- calls: the row's set of calls equals a test item's expected calls (same functions, every argument among the
  item's accepted values, optional ones left out or given an accepted value).
- tools: an offered tool is a benchmark's function definition (same name and parameter names).

The index is plain arrays (sorted 64-bit n-gram hashes), so it loads in milliseconds and is small in memory.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import polars as pl

NGRAM = 8
SHORTEST = 5  # a test query of fewer words is too generic to count
MIN_OVERLAP = 0.5
_BITMAP = 2**24
_TOKEN = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


_TOKEN_HASH: dict[str, int] = {}
_TOKEN_MEMO = 200_000  # words memoized at most (~30 MB): a build's ids, names and numbers never stop coming
# one odd multiplier per position in a window and per window length: a 5-gram never hashes like an 8-gram
_MULT = np.array([[(hash_seed * 0x9E3779B97F4A7C15 + j * 0xBF58476D1CE4E5B9) % 2**64 | 1
                   for j in range(NGRAM)] for hash_seed in range(NGRAM + 1)], dtype=np.uint64)


def _token_hashes(tokens: list[str]) -> np.ndarray:
    """The tokens' hashes; afterwards every one of them is in _TOKEN_HASH."""
    if len(_TOKEN_HASH) + len(tokens) > _TOKEN_MEMO:  # the driver checks every shard of a 1M-task build
        _TOKEN_HASH.clear()
    out = np.empty(len(tokens), dtype=np.uint64)
    for i, tok in enumerate(tokens):
        h = _TOKEN_HASH.get(tok)
        if h is None:
            h = _TOKEN_HASH[tok] = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
        out[i] = h
    return out


def window_hashes(tokens: np.ndarray, owner: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every n-token window that lies within one text (owner = the text each token belongs to)."""
    if len(tokens) < n:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(owner[: len(owner) - n + 1] == owner[n - 1:])
    h = np.zeros(len(starts), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h += tokens[starts + j] * _MULT[n, j]
    return h, owner[starts]


def tokenize_all(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """All texts' token hashes, concatenated, and for each token the index of its text (tokenized by polars, so
    a shard's requests cost microseconds each; only words never seen before are hashed in Python)."""
    if not texts:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.int64)
    tokens = pl.Series(texts, dtype=pl.String).str.to_lowercase().str.extract_all(_TOKEN.pattern)
    lengths = tokens.list.len().fill_null(0).to_numpy()
    flat = tokens.explode().drop_nulls()
    vocab = flat.unique().to_list()
    _token_hashes(vocab)  # memoizes the new ones
    mapping = pl.DataFrame({"t": vocab, "h": [_TOKEN_HASH[t] for t in vocab]}, schema={"t": pl.String, "h": pl.UInt64})
    hashes = flat.to_frame("t").join(mapping, on="t", how="left", maintain_order="left")["h"].to_numpy()
    return hashes.astype(np.uint64), np.repeat(np.arange(len(texts)), lengths)


def item_grams(text: str) -> np.ndarray:
    tokens = _token_hashes(words(text))
    if len(tokens) < SHORTEST:
        return np.empty(0, dtype=np.uint64)
    return np.unique(window_hashes(tokens, np.zeros(len(tokens), dtype=np.int64), min(NGRAM, len(tokens)))[0])


def function_key(name: str, parameters: dict[str, Any] | None) -> str:
    props = (parameters or {}).get("properties") or {}
    return f"{name}({','.join(sorted(props))})"


def _norm(value: Any) -> str:
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value, sort_keys=True)


@dataclass
class BenchmarkItem:
    """One test item: its user texts, its accepted call sets ({function: {param: [accepted values]}}), functions."""

    benchmark: str
    item_id: str
    texts: list[str] = field(default_factory=list)
    calls: list[dict[str, dict[str, list[Any]]]] = field(default_factory=list)
    functions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Hit:
    benchmark: str
    test: str  # request | calls | tools
    detail: str


def _call_matches(name: str, args: dict[str, Any], expected: dict[str, dict[str, list[Any]]]) -> bool:
    accepted = expected.get(name)
    if accepted is None or set(args) - set(accepted):
        return False
    for param, values in accepted.items():
        allowed = {_norm(v) for v in values}
        if param in args:
            if _norm(args[param]) not in allowed:
                return False
        elif '""' not in allowed and "" not in allowed:
            return False
    return True


class ContaminationIndex:
    def __init__(self, benchmarks: list[str], item_ids: list[str], item_bench: np.ndarray, item_size: np.ndarray,
                 gram: np.ndarray, gram_item: np.ndarray, call_sets: dict[str, list[list[Any]]],
                 functions: dict[str, int]):
        self.benchmarks = benchmarks
        self.item_ids = item_ids
        self.item_bench = item_bench
        self.item_size = item_size
        self.gram = gram
        self.gram_item = gram_item
        self.call_sets = call_sets  # sorted function names joined by "|" -> [[item index, expected calls], ...]
        self.functions = functions  # function_key -> benchmark index

    @classmethod
    def from_items(cls, items: Iterable[BenchmarkItem]) -> "ContaminationIndex":
        benchmarks: list[str] = []
        item_ids: list[str] = []
        bench_of: list[int] = []
        sizes: list[int] = []
        pairs_gram: list[int] = []
        pairs_item: list[int] = []
        call_sets: dict[str, list[list[Any]]] = {}
        functions: dict[str, int] = {}
        for item in items:
            if item.benchmark not in benchmarks:
                benchmarks.append(item.benchmark)
            b = benchmarks.index(item.benchmark)
            for fn in item.functions:
                functions.setdefault(function_key(fn["name"], fn.get("parameters")), b)
            for turn, text in enumerate(item.texts):
                hashes = item_grams(text)
                if not len(hashes):
                    continue
                index = len(item_ids)
                item_ids.append(f"{item.item_id}#{turn}" if len(item.texts) > 1 else item.item_id)
                bench_of.append(b)
                sizes.append(len(hashes))
                pairs_gram.extend(hashes.tolist())
                pairs_item.extend([index] * len(hashes))
            for expected in item.calls:
                key = "|".join(sorted(name for call in expected for name in call))
                item_ids.append(item.item_id)
                bench_of.append(b)
                sizes.append(0)
                call_sets.setdefault(key, []).append([len(item_ids) - 1, expected])
        gram = np.array(pairs_gram, dtype=np.uint64)
        order = np.argsort(gram, kind="stable")
        return cls(benchmarks, item_ids, np.array(bench_of, dtype=np.int32), np.array(sizes, dtype=np.int32),
                   gram[order], np.array(pairs_item, dtype=np.int32)[order], call_sets, functions)

    def save(self, path: Path) -> None:
        """Arrays to PATH (.npz), the rest beside it (.json); written to temporary names, then renamed."""
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, item_bench=self.item_bench, item_size=self.item_size, gram=self.gram, gram_item=self.gram_item)
        side = path.with_suffix(".json")
        side_tmp = side.with_name(side.name + ".tmp")
        side_tmp.write_text(json.dumps({"benchmarks": self.benchmarks, "item_ids": self.item_ids,
                                        "call_sets": self.call_sets, "functions": self.functions}))
        side_tmp.replace(side)
        tmp.replace(path)  # the .npz last: its presence means both files are whole

    @classmethod
    def load(cls, path: Path) -> "ContaminationIndex":
        arrays = np.load(path)
        side = json.loads(path.with_suffix(".json").read_text())
        return cls(side["benchmarks"], side["item_ids"], arrays["item_bench"], arrays["item_size"], arrays["gram"],
                   arrays["gram_item"], side["call_sets"], side["functions"])

    def check(self, texts: list[str], calls: list[tuple[str, dict[str, Any]]],
              tools: list[tuple[str, dict[str, Any] | None]]) -> Hit | None:
        """The first test one row fails, or None. `texts`: its user turns; `calls`: (function, arguments)."""
        return self.check_rows([(texts, calls, tools)])[0]

    def check_rows(self, rows: list[tuple[list[str], list[tuple[str, dict[str, Any]]],
                                          list[tuple[str, dict[str, Any] | None]]]]) -> list[Hit | None]:
        """Many rows at once (the request test is vectorized over all of them)."""
        hits = self._requests([texts for texts, _, _ in rows])
        for i, (_, calls, tools) in enumerate(rows):
            if hits[i] is None and calls:
                hits[i] = self._calls(calls)
            if hits[i] is None:
                hits[i] = self._tools(tools)
        return hits

    def _tools(self, tools: list[tuple[str, dict[str, Any] | None]]) -> Hit | None:
        for name, params in tools:
            b = self.functions.get(function_key(name, params))
            if b is not None:
                return Hit(self.benchmarks[b], "tools",
                           f"offers {function_key(name, params)}, a function of {self.benchmarks[b]}")
        return None

    def _maybe(self, hashes: np.ndarray) -> np.ndarray:
        """A bitmap prefilter (16 MB, about 1% false positives): is this hash perhaps one of the test n-grams?"""
        if getattr(self, "_bitmap", None) is None:
            self._bitmap = np.zeros(_BITMAP, dtype=bool)
            self._bitmap[(self.gram & np.uint64(_BITMAP - 1)).astype(np.int64)] = True
        return self._bitmap[(hashes & np.uint64(_BITMAP - 1)).astype(np.int64)]

    def _requests(self, row_texts: list[list[str]]) -> list[Hit | None]:
        flat = [t for texts in row_texts for t in texts]
        row_of_text = np.repeat(np.arange(len(row_texts)), [len(t) for t in row_texts])
        tokens, owner = tokenize_all(flat)
        hits: list[Hit | None] = [None] * len(row_texts)
        if not len(tokens) or not len(self.gram):
            return hits
        found_row: list[np.ndarray] = []
        found_gram: list[np.ndarray] = []
        for n in range(SHORTEST, NGRAM + 1):
            h, text = window_hashes(tokens, owner, n)
            found_row.append(row_of_text[text])
            found_gram.append(h)
        rows_, grams_ = np.concatenate(found_row), np.concatenate(found_gram)
        present = np.flatnonzero(self._maybe(grams_))  # few: most requests share no n-gram with any test item
        rows_, grams_ = rows_[present], grams_[present]
        left = np.searchsorted(self.gram, grams_, "left")
        right = np.searchsorted(self.gram, grams_, "right")
        present = np.arange(len(grams_))
        counts: Counter[tuple[int, int]] = Counter()
        seen: set[tuple[int, int]] = set()
        for p in present.tolist():
            r, g = int(rows_[p]), int(grams_[p])
            if (r, g) in seen:  # a text repeated in one row counts once
                continue
            seen.add((r, g))
            for item in self.gram_item[left[p]:right[p]].tolist():
                counts[(r, item)] += 1
        best: dict[int, tuple[float, int]] = {}
        for (r, item), n in counts.items():
            share = n / int(self.item_size[item])
            if share >= MIN_OVERLAP and (r not in best or (-share, item) < (-best[r][0], best[r][1])):
                best[r] = (share, item)
        for r, (share, item) in best.items():
            b = int(self.item_bench[item])
            hits[r] = Hit(self.benchmarks[b], "request",
                          f"contains {share:.0%} of the {NGRAM}-grams of {self.benchmarks[b]} item {self.item_ids[item]}")
        return hits

    def _calls(self, calls: list[tuple[str, dict[str, Any]]]) -> Hit | None:
        key = "|".join(sorted(name for name, _ in calls))
        for item, expected in self.call_sets.get(key, ()):
            pool = list(expected)
            for name, args in calls:
                match = next((e for e in pool if _call_matches(name, args, e)), None)
                if match is None:
                    break
                pool.remove(match)
            else:
                b = int(self.item_bench[item])
                return Hit(self.benchmarks[b], "calls",
                           f"makes the expected calls of {self.benchmarks[b]} item {self.item_ids[item]}")
        return None
