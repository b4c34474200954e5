"""Choosing rows to export: filters over a build's Parquet shards (lazy polars scans), and a split by task family."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Iterator

import polars as pl

from agentfab.formats.export.where import WhereError, parse_where


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _scan(files: list[Path]) -> pl.LazyFrame | None:
    return pl.scan_parquet([str(f) for f in files]) if files else None


def _select(frame: pl.LazyFrame, *, side: str, where: str | None, kinds: list[str] | None,
            min_depth: int | None, domains: list[str] | None, min_score: float | None) -> pl.LazyFrame:
    if min_score is not None and side == "accepted":
        frame = frame.filter(pl.col("judge_score") >= min_score)
    if kinds:
        frame = frame.filter(pl.col("kind").is_in(pl.Series(kinds, dtype=pl.String).implode()))
    if domains:
        frame = frame.filter(pl.col("domain").is_in(pl.Series(domains, dtype=pl.String).implode()))
    if min_depth is not None:
        frame = frame.filter(pl.col("depth") >= min_depth)
    if where:
        frame = frame.filter(parse_where(where, frame.collect_schema()))
    return frame


def load_rows(dataset_dir: Path, *, accepted: bool = True, rejected: bool = False, where: str | None = None,
              kind: str | Iterable[str] | None = None, min_depth: int | None = None,
              domain: str | Iterable[str] | None = None, min_score: float | None = None) -> list[dict[str, Any]]:
    """Rows of a build (accepted from shards/, rejected from rejected/), filtered; accepted rows first, file order.

    kind, domain, min_depth and where select tasks and apply to both sides. min_score is a quality bar for what is
    kept as good, so it applies to accepted rows only: a rejected row scores low by design, and dropping it would
    take the negatives out of a DPO export.
    """
    dataset_dir = Path(dataset_dir)
    parts = []
    for side, wanted, folder in (("accepted", accepted, "shards"), ("rejected", rejected, "rejected")):
        frame = _scan(sorted((dataset_dir / folder).glob("*.parquet"))) if wanted else None
        if frame is not None:
            parts.append(_select(frame, side=side, where=where, kinds=_as_list(kind), min_depth=min_depth,
                                 domains=_as_list(domain), min_score=min_score))
    if not parts:
        return []
    frame = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
    return frame.collect().to_dicts()


def shard_names(dataset_dir: Path) -> list[str]:
    dataset_dir = Path(dataset_dir)
    return sorted({p.name for folder in ("shards", "rejected") for p in (dataset_dir / folder).glob("*.parquet")})


def iter_rows(dataset_dir: Path, *, accepted: bool = True, rejected: bool = False, where: str | None = None,
              kind: str | Iterable[str] | None = None, min_depth: int | None = None,
              domain: str | Iterable[str] | None = None, min_score: float | None = None,
              batch: int = 2000, shards: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The rows `load_rows` selects, streamed shard by shard (a shard's accepted rows, then its rejected ones), so
    an export of millions of rows holds one batch in memory, not the dataset. `shards` limits it to those files."""
    dataset_dir = Path(dataset_dir)
    for name in shard_names(dataset_dir) if shards is None else shards:
        for side, wanted, folder in (("accepted", accepted, "shards"), ("rejected", rejected, "rejected")):
            path = dataset_dir / folder / name
            if not wanted or not path.exists():
                continue
            frame = _select(pl.scan_parquet(str(path)), side=side, where=where, kinds=_as_list(kind),
                            min_depth=min_depth, domains=_as_list(domain), min_score=min_score).collect()
            for chunk in frame.iter_slices(batch):
                yield from chunk.to_dicts()


def family_bucket(family: str, seed: int) -> float:
    """Where a family falls in [0, 1): a stable hash of seed and family, the same on every machine and run."""
    digest = hashlib.sha256(f"{seed}:{family}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_family(rows: Iterable[dict[str, Any]], val_fraction: float,
                    seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, val), deciding per `family`, so a task and every extension grown from it land on one side.

    A family goes to val when its hash bucket is below val_fraction. Its side depends only on the family and the
    seed, never on which other rows are present, so re-exporting a bigger build keeps earlier val families in val.
    Row order is kept within each side.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    train, val = [], []
    for row in rows:
        (val if family_bucket(str(row["family"]), seed) < val_fraction else train).append(row)
    return train, val


__all__ = ["WhereError", "family_bucket", "iter_rows", "load_rows", "shard_names", "split_by_family"]
