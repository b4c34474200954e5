"""An index of accepted rows for exact and near-duplicate checks across shards and dataset versions.

Exact: the first 64 bits of each row's SHA-256 dedup key. Near: MinHash signatures of the row's features (its
planned calls, or its request's words for call-free tasks) cut into bands (locality-sensitive hashing); rows that
share a band are candidates, and a candidate counts only if the exact Jaccard similarity of the two feature sets
reaches the threshold.

The index lives in an SQLite file beside the data (or in memory, for small uses): a table of rows (exact key and
feature hashes) and one of band keys, each with a B-tree on what is looked up. A shard's rows are checked with a
few joins and appended in one transaction, so the driver's memory does not grow with the rows indexed and adding a
shard never copies the index. Builds before this one kept the index as numpy arrays in an .npz: `start` reads one
as a parent. Candidates are visited in the order the earlier in-memory index visited them (its two sorted tiers,
then band, row in the shard, indexed row), so the same near-duplicate is reported with the same similarity.

A small feature set reaches the threshold only with an identical one: two sets that differ have a Jaccard of at
most a/(a+1) for the smaller size a, so below the threshold (a <= 8 at 0.9) a row is looked up by its whole set in
a table of its own and its bands are not indexed. Otherwise the rows of the few features most tasks have (a call or
two) share bands with a share of every row that grows with the index (min-hashes of {tool, value} sets collide on
the tool), and a shard's candidates grew with every shard indexed.

A set of a middle size (the words of most requests: 9-17 at 0.9) reaches the threshold only with a set equal to it
or one feature less or more: a pair with two features apart has a Jaccard of at most i/(i+2), i the features they
share, under the threshold below that size. Such a row is looked up by its set's hash, that hash with each of its
features left out (a set one feature smaller) and its hash among the indexed sets with one feature left out (a set
one feature larger); of those, a row sharing one of its bands is a candidate as before. Through the bands, every
request of a template shared a band with most earlier requests of it, and a shard's candidates grew with the index.
A set of fewer than _HASHED_FROM features still goes through its bands: at a low threshold (at most 0.75) its
middle sizes are calls, and a call is in many sets of one call more.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np

PERMS = 16
BANDS = 4
_ROWS = PERMS // BANDS
_MERGE_AT = 50_000  # the earlier index's small tier: candidates of its newest rows come after the older rows'
_CHUNK = 50_000  # rows per insert when an .npz is migrated
_HASHED_FROM = 5  # the fewest features of a middle set looked up by its hashes
_SEEDS = np.array([(0x9E3779B97F4A7C15 * (i + 1)) % 2**64 for i in range(PERMS)], dtype=np.uint64)
_SET_SALT = np.uint64(0xD6E8FEB86659FD93)  # a set's hash: the xor of its features mixed (a feature drops out by xor)
_BAND_MULT = np.array([(0xBF58476D1CE4E5B9 * (i + 3)) % 2**64 | 1 for i in range(_ROWS)], dtype=np.uint64)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (id INTEGER PRIMARY KEY, key INTEGER NOT NULL, feats BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS rows_key ON rows (key);
CREATE TABLE IF NOT EXISTS sized_bands (band INTEGER, key INTEGER, n INTEGER, row INTEGER,
    PRIMARY KEY (band, key, n, row)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sets (feats BLOB, row INTEGER, PRIMARY KEY (feats, row)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS near_sets (key INTEGER, dropped INTEGER, row INTEGER, PRIMARY KEY (key, dropped, row))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value);
CREATE TEMP TABLE IF NOT EXISTS ask_keys (pos INTEGER, key INTEGER);
CREATE TEMP TABLE IF NOT EXISTS ask_sets (pos INTEGER, feats BLOB);
CREATE TEMP TABLE IF NOT EXISTS ask_near (pos INTEGER, key INTEGER, dropped INTEGER);
CREATE TEMP TABLE IF NOT EXISTS ask_bands (pos INTEGER, band INTEGER, key INTEGER, lo INTEGER, hi INTEGER);
CREATE TEMP TABLE IF NOT EXISTS ask_rows (id INTEGER PRIMARY KEY);
"""


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


def _small_sets(threshold: float) -> int:
    """The feature-set sizes below which only an identical set reaches `threshold`: sets of a and b features that
    differ have a Jaccard of at most a/(a+1) (a the smaller), so with a/(a+1) under the threshold the two are close
    only when equal."""
    a = 1
    while a < 1_000 and a / (a + 1) < threshold:
        a += 1
    return a


def _two_apart(threshold: float) -> int:
    """The fewest shared features with which two sets two features apart can reach `threshold` (i/(i+2), as the
    Jaccard is computed): below that size a close pair is equal or one feature apart."""
    i = 1
    while i < 1_000 and i / (i + 2) < threshold:
        i += 1
    return i


def _set_hashes(blobs: list[bytes]) -> list[tuple[int, list[int]]]:
    """Each set's hash (the xor of its features mixed), and the hashes of the set without each of its features
    (the set's hash xor that feature's), as SQLite's signed integers; `blobs` are non-empty `_blob`s."""
    flat = np.frombuffer(b"".join(blobs), dtype=np.uint64)
    sizes = np.array([len(b) // 8 for b in blobs])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    mixed = _mix(flat ^ _SET_SALT)
    whole = np.bitwise_xor.reduceat(mixed, starts)
    less = _signed(mixed ^ np.repeat(whole, sizes))
    return [(h, less[lo:lo + n]) for h, lo, n in zip(_signed(whole), starts.tolist(), sizes.tolist())]


@functools.lru_cache(maxsize=1024)
def _sizes(a: int, threshold: float) -> tuple[int, int]:
    """The sizes a set of `a` features can reach `threshold` with: n / a and a / n (the smaller over the larger,
    which bounds a Jaccard) at least the threshold, as the Jaccard is computed (floats)."""
    lo = a
    while lo > 1 and (lo - 1) / a >= threshold:
        lo -= 1
    hi = a
    while hi < 100_000 and a / (hi + 1) >= threshold:
        hi += 1
    return lo, hi


def _blob(features: np.ndarray) -> bytes:
    """A feature set's bytes: its distinct hashes in order, so equal sets have equal bytes (np.unique's). A row's
    features come sorted and distinct (crossshard.row_features): a set of a few values is checked in Python,
    ~1.5-2.5 us, where np.unique took ~5.5 (two per row checked)."""
    values = np.asarray(features, dtype=np.uint64)
    listed = values.tolist()
    distinct = sorted(set(listed))
    return values.tobytes() if distinct == listed else np.array(distinct, dtype=np.uint64).tobytes()


def _signed(values: np.ndarray) -> list[int]:
    """uint64 hashes as SQLite's signed 64-bit integers (the same bits)."""
    return np.asarray(values, dtype=np.uint64).view(np.int64).tolist()


class NearIndex:
    """Every accepted row's exact key, band keys and features, in an SQLite file at `path` (in memory without)."""

    def __init__(self, threshold: float, path: Path | None = None):
        self.threshold = threshold
        self.path = path
        self._small = _small_sets(threshold)
        self._apart = _two_apart(threshold)  # sets of _hashed.._apart - 1 features are looked up by their hashes
        self._hashed = max(self._small, _HASHED_FROM)
        self._db = self._connect()
        self._n = self._db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
        self._small_from = self._n  # rows indexed before this process count as the earlier index's large tier
        self._split()

    def _split(self) -> None:
        """Rows filed by the size cuts of this threshold: an index written by an earlier agentfab (every row's bands,
        no set table, no middle sets' hashes) or under another threshold is filed again from its rows."""
        db = self._db
        layout = f"{self._small} {self._hashed} {self._apart}"
        found = db.execute("SELECT value FROM meta WHERE name = 'layout'").fetchone()
        if found is not None and found[0] == layout or not self._n:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('layout', ?)", (layout,))
            return
        db.execute("BEGIN")
        db.execute("DROP TABLE IF EXISTS bands")  # an earlier agentfab's: every row's bands, without its size
        db.execute("DELETE FROM sized_bands")
        db.execute("DELETE FROM sets")
        db.execute("DELETE FROM near_sets")
        last = -1
        while True:
            chunk = db.execute("SELECT id, feats FROM rows WHERE id > ? ORDER BY id LIMIT ?",
                               (last, _CHUNK)).fetchall()
            if not chunk:
                break
            features = [np.frombuffer(b, dtype=np.uint64) for _, b in chunk]
            self._file([i for i, _ in chunk], features, [_blob(f) for f in features])
            last = chunk[-1][0]
        db.execute("INSERT OR REPLACE INTO meta VALUES ('layout', ?)", (layout,))
        db.execute("COMMIT")

    def _connect(self) -> sqlite3.Connection:
        # the checks run in a worker thread of the build's event loop, one call at a time
        db = sqlite3.connect(":memory:" if self.path is None else str(self.path), check_same_thread=False,
                             isolation_level=None)
        # A working file is rebuilt from its parent whenever a build (re)starts, so it needs no journal (no file
        # beside it); no mmap, and a small page cache: SQLite's own memory grew ~0.05 MB per 1,000 rows indexed
        # until its cap (16 MB was reached only ~330k rows into a build, a driver growing through a third of a 1M
        # run); 4 MB fills within the first ~80k rows and costs ~10% more CPU in the index (300k rows, 5,000 a shard)
        db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY; "
                         "PRAGMA cache_size = -4096; PRAGMA mmap_size = 0;" + _SCHEMA)
        return db

    @classmethod
    def start(cls, path: Path, threshold: float, parent: Path | None = None) -> "NearIndex":
        """A new index file at `path` holding what the index at `parent` holds (an .sqlite or an older build's
        .npz; none: empty). Whatever was at `path` (a build stopped half-way) is replaced."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        if parent is not None and parent.suffix != ".npz":
            tmp = path.with_name(f".{path.name}.tmp")
            shutil.copyfile(parent, tmp)
            tmp.replace(path)
        index = cls(threshold, path)
        if parent is not None and parent.suffix == ".npz":
            index._add_npz(parent)
        return index

    def _add_npz(self, path: Path) -> None:
        """The rows of an index an earlier agentfab saved as numpy arrays, in their order."""
        data = np.load(path)
        keys, feat, offsets = data["keys"], data["feat"], data["offsets"]
        for lo in range(0, len(keys), _CHUNK):
            hi = min(lo + _CHUNK, len(keys))
            self._insert(keys[lo:hi], [feat[offsets[i]:offsets[i + 1]] for i in range(lo, hi)])
        self._small_from = self._n

    def __len__(self) -> int:
        return self._n

    def check(self, keys: np.ndarray, features: list[np.ndarray]) -> list[tuple[str, int, float] | None]:
        """For each new row: ("exact" | "near", the indexed row it repeats, similarity), or None."""
        out: list[tuple[str, int, float] | None] = [None] * len(keys)
        if not len(keys) or not self._n:
            return out
        db = self._db
        db.execute("BEGIN")
        try:
            db.execute("DELETE FROM ask_keys")
            db.executemany("INSERT INTO ask_keys VALUES (?, ?)", enumerate(_signed(keys)))
            for (q,) in db.execute("SELECT DISTINCT a.pos FROM ask_keys a JOIN rows r ON r.key = a.key"):
                out[q] = ("exact", -1, 1.0)
            if self.threshold >= 1.0:
                return out
            blobs = [_blob(f) for f in features]
            small = [q for q, blob in enumerate(blobs) if out[q] is None and 0 < len(blob) < 8 * self._small]
            if small:  # an identical set, the first indexed (an earlier build's rows first), or none is close
                db.execute("DELETE FROM ask_sets")
                db.executemany("INSERT INTO ask_sets VALUES (?, ?)", ((q, blobs[q]) for q in small))
                for q, r in db.execute("SELECT a.pos, s.row FROM ask_sets a JOIN sets s ON s.feats = a.feats "
                                       "ORDER BY a.pos, s.row >= ?, s.row", (self._small_from,)):
                    if out[q] is None:
                        out[q] = ("near", r, 1.0)
            bands = band_keys(features)
            hashed, apart = 8 * self._hashed, 8 * self._apart
            asked = [(q, b, k, *_sizes(len(blobs[q]) // 8, self.threshold))
                     for q, row in enumerate(bands.view(np.int64).tolist()) if out[q] is None
                     and len(blobs[q]) >= 8 * self._small and not hashed <= len(blobs[q]) < apart
                     for b, k in enumerate(row) if k != 0]
            db.execute("DELETE FROM ask_bands")
            db.executemany("INSERT INTO ask_bands VALUES (?, ?, ?, ?, ?)", asked)
            # only rows of a size that can reach the threshold: a Jaccard is at most the smaller size / the larger
            found = db.execute("SELECT a.pos, a.band, b.row FROM ask_bands a JOIN sized_bands b "
                               "ON b.band = a.band AND b.key = a.key AND b.n BETWEEN a.lo AND a.hi").fetchall()
            asking: dict[int, list[tuple[int, int | None]]] = {}  # indexed row -> (new row, band or None) asked
            for q, b, r in found:
                asking.setdefault(r, []).append((q, b))
            middle = [q for q, blob in enumerate(blobs) if out[q] is None and hashed <= len(blob) < apart]
            for q, r in self._near_sets(middle, blobs):  # their bands are compared once they are known close
                asking.setdefault(r, []).append((q, None))
            if not asking:
                return out
            db.execute("DELETE FROM ask_rows")
            db.executemany("INSERT INTO ask_rows VALUES (?)", ((r,) for r in asking))
            # one indexed row's features at a time (the candidates grow with the index: never all of them at
            # once); only the pairs that reach the threshold are kept
            mine: dict[int, set[int]] = {}
            close: dict[tuple[int, int], float] = {}
            for r, blob in db.execute("SELECT r.id, r.feats FROM ask_rows a JOIN rows r ON r.id = a.id"):
                theirs = set(np.frombuffer(blob, dtype=np.uint64).tolist())
                for q, b in asking[r]:
                    if q not in mine:
                        mine[q] = set(features[q].tolist())
                    sim = len(mine[q] & theirs) / len(mine[q] | theirs)
                    if sim < self.threshold:
                        continue
                    if b is not None:
                        close[(q, r)] = sim
                        continue
                    # a candidate through the bands only if it shares one, among the sizes the bands are asked of
                    lo, hi = _sizes(len(blobs[q]) // 8, self.threshold)
                    if lo <= len(theirs) <= hi:
                        their_bands = band_keys([np.frombuffer(blob, dtype=np.uint64)])[0].tolist()
                        shared = [band for band, (k, their_k) in enumerate(zip(bands[q].tolist(), their_bands))
                                  if k and k == their_k]
                        found += [(q, band, r) for band in shared]
                        if shared:
                            close[(q, r)] = sim
        finally:
            db.execute("COMMIT")
        # the earlier index's order: its large tier, then its small one; in each, by band, row, indexed row
        found.sort(key=lambda c: (c[2] >= self._small_from, c[1], c[0], c[2]))
        for q, _, r in found:  # the first close candidate in the earlier order wins
            if out[q] is None and (q, r) in close:
                out[q] = ("near", r, close[(q, r)])
        return out

    def _near_sets(self, asked: list[int], blobs: list[bytes]) -> set[tuple[int, int]]:
        """(asked row, indexed row) of the indexed sets of a middle size that may equal the asked set or be one
        feature less or more than it (their hashes match: a pair to compare)."""
        if not asked:
            return set()
        keys = []
        for q, (whole, less) in zip(asked, _set_hashes([blobs[q] for q in asked])):
            keys += [(q, whole, 0), (q, whole, 1)] + [(q, k, 0) for k in less]
        db = self._db
        db.execute("DELETE FROM ask_near")
        db.executemany("INSERT INTO ask_near VALUES (?, ?, ?)", keys)
        return set(db.execute("SELECT a.pos, s.row FROM ask_near a JOIN near_sets s "
                              "ON s.key = a.key AND s.dropped = a.dropped"))

    def add(self, keys: np.ndarray, features: list[np.ndarray]) -> None:
        self._insert(keys, features)
        if self._n - self._small_from > _MERGE_AT:  # the earlier index merged its small tier into the large one
            self._small_from = self._n

    def _insert(self, keys: np.ndarray, features: list[np.ndarray]) -> None:
        first = self._n
        ids = list(range(first, first + len(keys)))
        feats = [_blob(f) for f in features]
        db = self._db
        db.execute("BEGIN")
        db.executemany("INSERT INTO rows VALUES (?, ?, ?)", zip(ids, _signed(keys), feats))
        self._file(ids, features, feats)
        db.execute("COMMIT")
        self._n += len(keys)

    def _file(self, ids: list[int], features: list[np.ndarray], blobs: list[bytes]) -> None:
        """A row of a small feature set under its set; any other row under its bands (none without features), and
        one of a middle size (or one feature less or more) under its set's hashes too."""
        small = 8 * self._small  # bytes of a set of that many distinct features
        self._db.executemany("INSERT INTO sets VALUES (?, ?)",
                             ((blob, i) for i, blob in zip(ids, blobs) if 0 < len(blob) < small))
        large = [j for j, blob in enumerate(blobs) if len(blob) >= small]
        # the sets a middle set is looked up among: of its sizes, one feature less or one more
        middle = [j for j in large if 8 * (self._hashed - 1) <= len(blobs[j]) <= 8 * self._apart]
        if middle:
            self._db.executemany("INSERT OR IGNORE INTO near_sets VALUES (?, ?, ?)", (
                (k, dropped, ids[j]) for j, (whole, less) in zip(middle, _set_hashes([blobs[j] for j in middle]))
                for k, dropped in [(whole, 0)] + [(k, 1) for k in less]))
        if large:
            bands = band_keys([features[j] for j in large]).view(np.int64).tolist()
            self._db.executemany("INSERT INTO sized_bands VALUES (?, ?, ?, ?)",
                                 ((b, k, len(blobs[j]) // 8, ids[j]) for j, row in zip(large, bands)
                                  for b, k in enumerate(row) if k))

    def save(self, path: Path) -> None:
        """The index as an SQLite file at `path`, taking that name whole; a file index moves there and stays
        open."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.path is None:
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.unlink(missing_ok=True)
            target = sqlite3.connect(str(tmp))
            try:
                self._db.backup(target)
            finally:
                target.close()
            tmp.replace(path)
            return
        if path.resolve() == self.path.resolve():
            return
        self._db.close()
        os.replace(self.path, path)
        self.path = path
        self._db = self._connect()

    def close(self) -> None:
        self._db.close()
