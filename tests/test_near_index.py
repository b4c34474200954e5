"""The cross-shard duplicate index: a small feature set is found by its whole set, a larger one through its bands
among rows of a size that can reach the threshold, with the verdicts of the index that joined every band (kept
here as the reference), and an index file an earlier agentfab wrote is filed again when opened."""

from __future__ import annotations

import random
import sqlite3

import numpy as np

from agentfab.validators.near_index import BANDS, NearIndex, _blob, _sizes, band_keys


def _stream(seed: int, n: int) -> list[np.ndarray]:
    """Feature sets as builds make them: mostly one to three features drawn from a small vocabulary (a call or
    two), some of 9-20 (a request's words), with repeats and near-repeats."""
    rng = random.Random(seed)
    made: list[set[int]] = []
    for _ in range(n):
        if made and rng.random() < 0.25:  # a repeat, or the same less or plus one feature
            base = set(rng.choice(made))
            if rng.random() < 0.5 and len(base) > 1:
                base.discard(rng.choice(sorted(base)))
            elif rng.random() < 0.5:
                base.add(rng.randrange(400))
            made.append(base)
            continue
        size = rng.choice((1, 2, 2, 3, 3, 4, 9, 10, 12, 15, 20))
        made.append({rng.randrange(400) for _ in range(size)})
    return [np.array(sorted(s), dtype=np.uint64) for s in made]


def _reference(threshold: float, rows: list[np.ndarray]) -> list[tuple[str, int, float] | None]:
    """What the index that joined every row's bands decided: each row against the rows kept before it, the first
    close one by band then indexed row (no exact keys, one tier)."""
    kept: list[tuple[int, np.ndarray, set[int]]] = []
    out = []
    for feats in rows:
        mine = band_keys([feats])[0]
        verdict = None
        for b in range(BANDS):
            for r, theirs, their_set in kept:
                if mine[b] and theirs[b] == mine[b]:
                    sim = len(set(feats.tolist()) & their_set) / len(set(feats.tolist()) | their_set)
                    if sim >= threshold:
                        verdict = ("near", r, sim)
                        break
            if verdict:
                break
        out.append(verdict)
        if verdict is None:
            kept.append((len(kept), band_keys([feats])[0], set(feats.tolist())))
    return out


def test_verdicts_equal_the_every_band_reference_at_several_thresholds():
    for threshold in (0.9, 0.75, 0.5):
        rows = _stream(int(threshold * 100), 700)
        index = NearIndex(threshold)
        got = []
        for feats in rows:  # one row a shard: each is checked against every row kept before it
            verdict = index.check(np.array([len(got) + 1], dtype=np.uint64), [feats])[0]
            got.append(verdict)
            if verdict is None:
                index.add(np.array([len(got)], dtype=np.uint64), [feats])
        want = _reference(threshold, rows)
        assert [v and (v[0], round(v[2], 9)) for v in got] == [v and (v[0], round(v[2], 9)) for v in want]
        assert sum(v is not None for v in want) >= 50, threshold  # the stream has duplicates to find


def test_a_small_set_is_close_only_to_its_equal_and_is_not_banded():
    assert _sizes(10, 0.9) == (9, 11) and _sizes(9, 0.9) == (9, 10)
    index = NearIndex(0.9)
    small, large = np.array([5, 7], dtype=np.uint64), np.arange(100, 112, dtype=np.uint64)
    index.add(np.array([1, 2], dtype=np.uint64), [small, large])
    assert index._db.execute("SELECT COUNT(DISTINCT row) FROM sized_bands").fetchone()[0] == 1
    verdicts = index.check(np.array([3, 4, 5], dtype=np.uint64),
                           [np.array([5, 7], dtype=np.uint64), np.array([5, 8], dtype=np.uint64),
                            np.append(large[:11], np.uint64(999))])
    assert verdicts[0] == ("near", 0, 1.0) and verdicts[1] is None and verdicts[2] is None  # 11/13 < 0.9


def test_an_index_an_earlier_agentfab_wrote_is_filed_again(tmp_path):
    rows = _stream(3, 300)
    path = tmp_path / "near.sqlite"
    db = sqlite3.connect(path)  # the earlier layout: every row's bands, no set table, no size
    db.executescript("CREATE TABLE rows (id INTEGER PRIMARY KEY, key INTEGER NOT NULL, feats BLOB NOT NULL);"
                     "CREATE TABLE bands (band INTEGER, key INTEGER, row INTEGER, PRIMARY KEY (band, key, row))"
                     " WITHOUT ROWID;")
    first = rows[:200]
    db.executemany("INSERT INTO rows VALUES (?, ?, ?)", [(i, i + 1, f.tobytes()) for i, f in enumerate(first)])
    bands = band_keys(first).view(np.int64).tolist()
    db.executemany("INSERT INTO bands VALUES (?, ?, ?)",
                   [(b, k, i) for i, row in enumerate(bands) for b, k in enumerate(row) if k])
    db.commit()
    db.close()
    opened, fresh = NearIndex(0.9, path), NearIndex(0.9)
    fresh.add(np.arange(1, 201, dtype=np.uint64), first)
    later = rows[200:]
    keys = np.arange(1000, 1000 + len(later), dtype=np.uint64)
    assert opened.check(keys, later) == fresh.check(keys, later)
    assert sum(v is not None for v in fresh.check(keys, later)) > 0


def test_a_feature_sets_bytes_are_its_distinct_hashes_in_order_however_they_come():
    rng = np.random.default_rng(3)
    for _ in range(500):
        high = 2**64 if rng.random() < 0.5 else 6  # wide hashes, or few values with repeats
        features = rng.integers(0, high, int(rng.integers(0, 25)), dtype=np.uint64)
        for given in (features, np.sort(features), np.unique(features), features.tolist()):
            assert _blob(given) == np.unique(np.asarray(features, dtype=np.uint64)).tobytes()
