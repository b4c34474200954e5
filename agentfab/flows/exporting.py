"""`agentfab export`: select rows from a build, split them by task family, write a trainer format."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentfab.exporters import ExportReport


def run_export(dataset: Path, fmt: str, out: Path, *, where: str | None, kinds: list[str], domains: list[str],
               min_depth: int | None, min_score: float | None, reasoning: bool,
               val_fraction: float) -> list["ExportReport"]:
    from agentfab.exporters import FORMATS, write_export
    from agentfab.exporters.select import load_rows, split_by_family

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not (dataset / "shards").exists():
        raise FileNotFoundError(f"{dataset} has no shards/ folder: is it an agentfab build?")
    rows = load_rows(dataset, accepted=True, rejected=fmt == "dpo", where=where, kind=kinds or None,
                     min_depth=min_depth, domain=domains or None, min_score=min_score)
    if not 0 <= val_fraction < 1:
        raise ValueError("--val-fraction must be in [0, 1)")
    outputs = [(out, rows)]
    if val_fraction:
        train, val = split_by_family(rows, val_fraction, seed=0)
        outputs = [(out, train), (out.with_suffix(".val" + out.suffix), val)]
    return [write_export(subset, fmt, path, reasoning=reasoning) for path, subset in outputs]
