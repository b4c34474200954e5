"""`agentfab export`: select rows from a build, split them by task family, write a trainer format."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from agentfab.formats.export import ExportReport


def run_export(dataset: Path, fmt: str, out: Path, *, where: str | None, kinds: list[str], domains: list[str],
               min_depth: int | None, min_score: float | None, reasoning: bool,
               val_fraction: float, version: int | None = None, partial: bool = False) -> list["ExportReport"]:
    from agentfab.formats.export import FORMATS, write_export
    from agentfab.formats.export.select import family_bucket, iter_rows, shard_names

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    from agentfab.flows.integrity import require_whole, whole_shards

    if not partial:
        require_whole(dataset)
    if not 0 <= val_fraction < 1:
        raise ValueError("--val-fraction must be in [0, 1)")
    chosen = None
    if version is not None:
        from agentfab.inspect.dataset import open_build

        chosen = [f"{s}.parquet" for s in open_build(dataset, version).stems or ()]
    if partial:  # the shards that are done and intact, nothing else; the caller marks the export as partial
        intact = [f"{stem}.parquet" for stem in whole_shards(dataset)[0]]
        chosen = intact if chosen is None else [name for name in chosen if name in intact]

    def rows(side: str | None = None, shards: list[str] | None = None) -> Iterator[dict[str, Any]]:
        """Streamed, so a million-row build exports in constant memory; a split reads the shards twice."""
        for row in iter_rows(dataset, accepted=True, rejected=fmt == "dpo", where=where, kind=kinds or None,
                             min_depth=min_depth, domain=domains or None, min_score=min_score,
                             shards=shards if shards is not None else chosen):
            if side is None or (family_bucket(str(row["family"]), 0) < val_fraction) == (side == "val"):
                yield row

    def write(side: str | None, path: Path) -> "ExportReport":
        if fmt == "dpo":  # a negative lives in its task's shard: pair shard by shard
            groups = (rows(side, [name]) for name in (chosen if chosen is not None else shard_names(dataset)))
            return write_export([], fmt, path, reasoning=reasoning, groups=groups)
        return write_export(rows(side), fmt, path, reasoning=reasoning)

    if not val_fraction:
        return [write(None, out)]
    return [write("train", out), write("val", out.with_suffix(".val" + out.suffix))]
