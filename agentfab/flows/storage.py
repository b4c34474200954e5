"""Files of a build: shards written whole or not at all, and the test for a complete shard on resume.

Layout of an output folder:
  build.json                the recipe and its hash (a different recipe is refused unless --overwrite)
  shards/shard-00000.parquet      accepted rows
  rejected/shard-00000.parquet    rejected rows, with reason codes
  stats/shard-00000.json          the shard's funnel and distributions, and the checksum and row count of both
                                  Parquet files; written last, it marks the shard done
  manifest.json, README.md        rewritten (atomically) when the build finishes
  .agentfab/ledger, .agentfab/lock   what agentfab wrote here (see ownership.py), and who is writing now

Files are created with the permissions the umask allows (as `open` would), not the 0600 of a temporary file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from agentfab.flows.ownership import record
from agentfab.flows.row_arrow import rows_to_table
from agentfab.schemas.files import file_mode
from agentfab.schemas.rows import ROW_ARROW_SCHEMA


def shard_name(shard: int, version: int = 1) -> str:
    """shard-00000 for the first version; shard-v0002-00000 for later ones (sorted after every earlier name)."""
    return f"shard-{shard:05d}" if version == 1 else f"shard-v{version:04d}-{shard:05d}"


def paths(out: Path, shard: int, version: int = 1) -> dict[str, Path]:
    name = shard_name(shard, version)
    return {
        "accepted": out / "shards" / f"{name}.parquet",
        "rejected": out / "rejected" / f"{name}.parquet",
        "stats": out / "stats" / f"{name}.json",
    }


@contextmanager
def _temporary(path: Path) -> Iterator[str]:
    """A temporary file in `path`'s folder that takes `path`'s name (after fsync) only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
    finally:
        os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        record(path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic(path: Path, write: Any) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the final name."""
    with _temporary(path) as tmp:
        write(tmp)


def write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    _atomic(path, write)


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def rows_table(rows: list[dict[str, Any]], metadata: dict[str, str]) -> pa.Table:
    """Rows -> an Arrow table of the declared schema; a row that does not fit raises before anything is written
    (flows/row_arrow.py: from_pylist would drop an unknown key and null a missing one without a word)."""
    meta = dict(ROW_ARROW_SCHEMA.metadata or {})
    meta.update({f"agentfab.{k}".encode(): v.encode() for k, v in metadata.items()})
    return rows_to_table(rows).replace_schema_metadata(meta)


def write_rows(path: Path, rows: list[dict[str, Any]], metadata: dict[str, str]) -> dict[str, Any]:
    return write_table(path, rows_table(rows, metadata))


def file_digest(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_table(path: Path | str) -> pa.Table:
    """A Parquet file of ours whole, as `pq.read_table` reads it (the same table, chunks and metadata) without its
    dataset layer (discovery, a scanner, threads): ~9 -> ~6 ms of CPU a shard of 500 quickstart rows."""
    with pq.ParquetFile(path) as parquet:
        return parquet.read()


# Column statistics (min, max, nulls) only for the row's top-level scalar columns: readers prune row groups by them
# (polars' predicate pushdown, `agentfab export --where/--kind/--domain/--min-depth/--min-score` on domain, kind,
# depth, judge_score). Nothing filters by a value inside the nested columns (content, tools, ground_truth, ...), and
# their statistics were ~8% of `pq.write_table`'s time. The rows read back are the same; only the footer differs.
STATISTICS = [f.name for f in ROW_ARROW_SCHEMA if not pa.types.is_nested(f.type)]


def write_table(path: Path, table: pa.Table) -> dict[str, Any]:
    """Write a Parquet file whole; returns what the stats file records of it: sha256, bytes and rows.

    The file is made in memory (a shard's is a few MB) and written with one call, its checksum taken from the
    same bytes: written straight to the file, the writer made a system call per page and the file was read back
    for its checksum."""
    written: dict[str, Any] = {"rows": table.num_rows}

    def write(tmp: str) -> None:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd", row_group_size=2000, write_statistics=STATISTICS)
        data = sink.getvalue()
        with open(tmp, "wb") as fh:
            fh.write(data)
        written.update(sha256=hashlib.sha256(data).hexdigest(), bytes=data.size)

    _atomic(path, write)
    return written


class RowsWriter:
    """Rows added one by one, written in batches to one Parquet file that takes its name whole at `close`.

    Memory holds one batch, not the file: an import of millions of records runs in constant memory.
    """

    def __init__(self, path: Path, metadata: dict[str, str], batch: int = 1000):
        self.path, self.metadata, self.batch = path, metadata, batch
        self.rows: list[dict[str, Any]] = []
        self.written: dict[str, Any] = {}
        self._context = _temporary(path)
        self._tmp = self._context.__enter__()
        self._writer = pq.ParquetWriter(self._tmp, rows_table([], metadata).schema, compression="zstd",
                                       write_statistics=STATISTICS)
        self._count = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self._writer.write_table(rows_table(self.rows, self.metadata))
            self._count += len(self.rows)
            self.rows = []

    def close(self) -> dict[str, Any]:
        """Finish the file; returns its record (sha256, bytes, rows) as `write_table` does."""
        self._flush()
        self._writer.close()
        self.written = {"rows": self._count, "sha256": file_digest(self._tmp), "bytes": os.path.getsize(self._tmp)}
        self._context.__exit__(None, None, None)
        return self.written

    def abort(self, exc: BaseException) -> None:
        """Drop the temporary file (the final name never appears)."""
        self._writer.close()
        self._context.__exit__(type(exc), exc, exc.__traceback__)


def read_stats(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def check_file(path: Path, recorded: Any, root: Path, *, full: bool = True,
               size_of: Callable[[Path], int | None] | None = None) -> str | None:
    """None when `path` is the file `recorded` describes (sha256, bytes, rows); else what is wrong, naming it.
    `size_of`: the file's size where it really is (a store's listing; None: absent), its bytes not read."""
    name = path.relative_to(root).as_posix()
    if not isinstance(recorded, dict) or not {"sha256", "bytes", "rows"} <= set(recorded):
        return f"{name} has no checksum recorded (written by an older agentfab or damaged stats)"
    if size_of is None and (path.is_symlink() or not path.is_file()):
        return f"{name} is missing"
    size = path.stat().st_size if size_of is None else size_of(path)
    if size is None:
        return f"{name} is missing"
    if size != recorded["bytes"]:
        return f"{name} has {size} bytes, its record says {recorded['bytes']} (damaged or replaced)"
    if full and size_of is None and file_digest(path) != recorded["sha256"]:
        return f"{name} does not match its recorded checksum (damaged or replaced)"
    return None


def check_shard(out: Path, shard: int, recipe_hash: str | None, *, full: bool = True,
                version: int = 1, size_of: Callable[[Path], int | None] | None = None) -> str | None:
    """None when the shard is done and intact: stats parse, same recipe, both files match their checksum and rows.
    With `size_of` (see check_file) the data files are where it says, and only their sizes are checked."""
    p = paths(out, shard, version)
    name = p["stats"].relative_to(out).as_posix()
    if not p["stats"].is_file():
        return f"{name} is missing (shard {shard} not finished)"
    stats = read_stats(p["stats"])
    if not isinstance(stats, dict) or not isinstance(stats.get("rows"), dict) or "files" not in stats:
        return f"{name} is not a readable agentfab stats file"
    if stats.get("shard") != shard:
        return f"{name} holds the stats of shard {stats.get('shard')}, not of shard {shard} (copied over?)"
    if recipe_hash is not None and stats.get("recipe_hash") != recipe_hash:
        return f"{name} belongs to another recipe (hash {str(stats.get('recipe_hash'))[:12]})"
    for kind in ("accepted", "rejected"):
        recorded = stats["files"].get(kind) if isinstance(stats["files"], dict) else None
        problem = check_file(p[kind], recorded, out, full=full, size_of=size_of)
        if problem is None and recorded["rows"] != stats["rows"].get(kind):
            problem = f"{name} counts {stats['rows'].get(kind)} {kind} rows, its file {recorded['rows']}"
        if problem:
            return problem
    return None


def shard_is_complete(out: Path, shard: int, recipe_hash: str) -> bool:
    return check_shard(out, shard, recipe_hash) is None


_TEMPORARY = re.compile(r"^\.(shard-\d{5}\.(parquet|json)|build\.json|import\.json|manifest\.json|README\.md)"
                        r"\.[A-Za-z0-9_]+\.tmp$")


def clear_partial(out: Path) -> None:
    """Remove temporary files a killed build left behind (only those named like agentfab's own)."""
    for folder in (out, out / "shards", out / "rejected", out / "stats"):
        if folder.is_dir() and not folder.is_symlink():
            for tmp in folder.glob(".*.tmp"):
                if _TEMPORARY.match(tmp.name) and not tmp.is_symlink():
                    tmp.unlink(missing_ok=True)
