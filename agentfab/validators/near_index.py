"""An index of accepted rows for exact and near-duplicate checks across shards and dataset versions.

Exact: the first 64 bits of each row's SHA-256 dedup key. Near: MinHash signatures of the row's features (its
planned calls, or its request's words for call-free tasks) cut into bands (locality-sensitive hashing); rows that
share a band are candidates, and a candidate counts only if the exact Jaccard similarity of the two feature sets
reaches the threshold. Everything is numpy arrays: persisted beside the data as one .npz, and for a million
accepted rows about 100 MB in memory. New rows go into a small sorted tier that is merged into the large one
now and then, so adding a shard never re-sorts the whole index.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

PERMS = 16
BANDS = 4
_ROWS = PERMS // BANDS
_MERGE_AT = 50_000
_SEEDS = np.array([(0x9E3779B97F4A7C15 * (i + 1)) % 2**64 for i in range(PERMS)], dtype=np.uint64)
_BAND_MULT = np.array([(0xBF58476D1CE4E5B9 * (i + 3)) % 2**64 | 1 for i in range(_ROWS)], dtype=np.uint64)


def hash_text(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def band_keys(features: list[np.ndarray]) -> np.ndarray:
    """(rows, BANDS) band hashes of each feature set's MinHash signature; a row without features gets zeros."""
    out = np.zeros((len(features), BANDS), dtype=np.uint64)
    sizes = np.array([len(f) for f in features])
    full = np.flatnonzero(sizes > 0)
    if not len(full):
        return out
    flat = np.concatenate([features[i] for i in full])
    starts = np.concatenate([[0], np.cumsum(sizes[full])[:-1]])
    sig = np.minimum.reduceat(_mix(flat[None, :] ^ _SEEDS[:, None]), starts, axis=1)  # (PERMS, rows)
    with np.errstate(over="ignore"):
        for b in range(BANDS):
            key = np.full(len(full), b + 1, dtype=np.uint64)
            for j in range(_ROWS):
                key = key * _BAND_MULT[j] + sig[b * _ROWS + j]
            out[full, b] = key | np.uint64(1)  # never 0, the mark of "no features"
    return out


class _Tier:
    """Sorted (key, row) pairs: exact keys, then one column per band."""

    def __init__(self, keys: np.ndarray, bands: np.ndarray, rows: np.ndarray):
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.band_order = [np.argsort(bands[:, b], kind="stable") for b in range(BANDS)]
        self.bands = [bands[o, b] for b, o in enumerate(self.band_order)]
        self.band_rows = [rows[o] for o in self.band_order]

    def has_key(self, keys: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.keys, keys)
        pos[pos == len(self.keys)] = 0
        return (self.keys[pos] == keys) if len(self.keys) else np.zeros(len(keys), dtype=bool)

    def candidates(self, band: int, keys: np.ndarray) -> list[tuple[int, int]]:
        """(query position, indexed row) for every band collision."""
        col = self.bands[band]
        left, right = np.searchsorted(col, keys, "left"), np.searchsorted(col, keys, "right")
        out = []
        for q in np.flatnonzero((left < right) & (keys != 0)).tolist():
            out.extend((q, int(r)) for r in self.band_rows[band][left[q]:right[q]].tolist())
        return out


class NearIndex:
    def __init__(self, threshold: float):
        self.threshold = threshold
        self.keys = np.empty(0, dtype=np.uint64)
        self.bands = np.empty((0, BANDS), dtype=np.uint64)
        self.feat = np.empty(0, dtype=np.uint64)  # every row's feature hashes, concatenated
        self.offsets = np.zeros(1, dtype=np.int64)  # row i's features: feat[offsets[i]:offsets[i + 1]]
        self._big = _Tier(self.keys, self.bands, np.empty(0, dtype=np.int64))
        self._small_from = 0
        self._small = self._big

    def __len__(self) -> int:
        return len(self.keys)

    def _features(self, row: int) -> set[int]:
        return set(self.feat[self.offsets[row]:self.offsets[row + 1]].tolist())

    def check(self, keys: np.ndarray, features: list[np.ndarray]) -> list[tuple[str, int, float] | None]:
        """For each new row: ("exact" | "near", the indexed row it repeats, similarity), or None."""
        out: list[tuple[str, int, float] | None] = [None] * len(keys)
        bands = band_keys(features)
        for tier in (self._big, self._small):
            for q in np.flatnonzero(tier.has_key(keys)).tolist():
                out[q] = ("exact", -1, 1.0)
        if self.threshold >= 1.0:
            return out
        for tier in (self._big, self._small):
            for b in range(BANDS):
                for q, r in tier.candidates(b, bands[:, b]):
                    if out[q] is not None:
                        continue
                    mine, theirs = set(features[q].tolist()), self._features(r)
                    sim = len(mine & theirs) / len(mine | theirs)
                    if sim >= self.threshold:
                        out[q] = ("near", r, sim)
        return out

    def add(self, keys: np.ndarray, features: list[np.ndarray]) -> None:
        self.keys = np.concatenate([self.keys, keys])
        self.bands = np.concatenate([self.bands, band_keys(features)])
        sizes = np.array([len(f) for f in features], dtype=np.int64)
        self.feat = np.concatenate([self.feat, *features]) if features else self.feat
        self.offsets = np.concatenate([self.offsets, self.offsets[-1] + np.cumsum(sizes)])
        if len(self.keys) - self._small_from > _MERGE_AT:  # merge the small tier into the big one
            self._small_from = len(self.keys)
            self._big = self._tier(0, len(self.keys))
            self._small = self._tier(len(self.keys), len(self.keys))
        else:
            self._small = self._tier(self._small_from, len(self.keys))

    def _tier(self, lo: int, hi: int) -> _Tier:
        return _Tier(self.keys[lo:hi], self.bands[lo:hi], np.arange(lo, hi, dtype=np.int64))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, keys=self.keys, bands=self.bands, feat=self.feat, offsets=self.offsets,
                 threshold=np.array([self.threshold]))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, threshold: float) -> "NearIndex":
        data = np.load(path)
        index = cls(threshold)
        index.keys, index.bands, index.feat, index.offsets = data["keys"], data["bands"], data["feat"], data["offsets"]
        index._small_from = len(index.keys)
        index._big = index._tier(0, len(index.keys))
        index._small = index._tier(len(index.keys), len(index.keys))
        return index
