"""Files of a build: shards written whole or not at all, and the test for a complete shard on resume.

Layout of an output folder:
  build.json                the recipe and its hash (a different recipe is refused unless --overwrite)
  shards/shard-00000.parquet      accepted rows
  rejected/shard-00000.parquet    rejected rows, with reason codes
  stats/shard-00000.json          the shard's funnel and distributions; written last, it marks the shard done
  manifest.json, README.md        rewritten (atomically) when the build finishes
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from agentfab.schemas.rows import ROW_ARROW_SCHEMA, check_row_shapes


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


def _atomic(path: Path, write: Any) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    _atomic(path, write)


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def rows_table(rows: list[dict[str, Any]], metadata: dict[str, str]) -> pa.Table:
    """Rows -> an Arrow table of the declared schema; a row that does not fit raises before anything is written."""
    check_row_shapes(rows)  # from_pylist would drop an unknown key and null a missing one without a word
    table = pa.Table.from_pylist(rows, schema=ROW_ARROW_SCHEMA)
    meta = dict(ROW_ARROW_SCHEMA.metadata or {})
    meta.update({f"agentfab.{k}".encode(): v.encode() for k, v in metadata.items()})
    return table.replace_schema_metadata(meta)


def write_rows(path: Path, rows: list[dict[str, Any]], metadata: dict[str, str]) -> None:
    write_table(path, rows_table(rows, metadata))


def write_table(path: Path, table: pa.Table) -> None:
    def write(tmp: str) -> None:
        pq.write_table(table, tmp, compression="zstd", row_group_size=2000)

    _atomic(path, write)


def read_stats(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def shard_is_complete(out: Path, shard: int, recipe_hash: str, version: int = 1) -> bool:
    """Done means: stats present, both Parquet files readable, same recipe hash, row counts as the stats say."""
    p = paths(out, shard, version)
    stats = read_stats(p["stats"])
    if not stats or stats.get("recipe_hash") != recipe_hash:
        return False
    for kind in ("accepted", "rejected"):
        try:
            meta = pq.read_metadata(p[kind])
        except (OSError, pa.ArrowException):
            return False
        kv = meta.metadata or {}
        if kv.get(b"agentfab.recipe_hash", b"").decode() != recipe_hash or meta.num_rows != stats["rows"][kind]:
            return False
    return True


def clear_partial(out: Path) -> None:
    """Remove temporary files a killed build left behind."""
    for folder in ("shards", "rejected", "stats"):
        for tmp in (out / folder).glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
