"""Exporters: dataset rows -> trainer formats, written as JSONL (one record per line, UTF-8).

`FORMATS` names every format; `write_export` streams rows through one of them into a file, atomically (a temporary
file in the same folder, renamed over the target only when complete). A row a format cannot express is skipped and
counted by reason in the returned `ExportReport`, never written half-way.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from agentfab.formats.export import adp, dpo, hermes, hf, openai_chat, sharegpt
from agentfab.formats.export.chat import SkipRow
from agentfab.schemas.files import file_mode

log = logging.getLogger(__name__)

RowExporter = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Exporter:
    name: str
    summary: str
    export_row: RowExporter | None = None
    export_rows: Callable[..., Iterator[dict[str, Any]]] | None = None
    sidecars: Callable[[Path], dict[str, Any]] | None = None
    """Files written beside the output (file name -> JSON value), e.g. LLaMA-Factory's dataset_info.json."""

    def records(self, rows: Iterable[dict[str, Any]], *, reasoning: bool, skipped: Counter) -> Iterator[dict[str, Any]]:
        if self.export_rows is not None:
            yield from self.export_rows(rows, reasoning=reasoning, skipped=skipped)
            return
        assert self.export_row is not None
        for row in rows:
            try:
                yield self.export_row(row, reasoning=reasoning)
            except SkipRow as exc:
                skipped[exc.code] += 1
                log.debug("skipped: %s", exc)


FORMATS: dict[str, Exporter] = {
    "adp-jsonl": Exporter("adp-jsonl", "ADP trajectories (Agent Data Protocol)", export_row=adp.export_row),
    "openai": Exporter("openai", "OpenAI chat fine-tuning JSONL with tools", export_row=openai_chat.export_row),
    "hf": Exporter("hf", "Hugging Face / TRL messages + tools (arguments as objects)", export_row=hf.export_row),
    "sharegpt": Exporter("sharegpt", "ShareGPT for LLaMA-Factory, with dataset_info.json",
                         export_row=sharegpt.export_row,
                         sidecars=lambda out: {"dataset_info.json": sharegpt.merged_dataset_info(out)}),
    "hermes": Exporter("hermes", "Hermes function calling (<tools>, <tool_call>, <tool_response>)",
                       export_row=hermes.export_row),
    "dpo": Exporter("dpo", "TRL conversational preference pairs (accepted vs rejected of one task)",
                    export_rows=dpo.export_pairs),
}


@dataclass(frozen=True)
class ExportReport:
    path: Path
    fmt: str
    records: int
    skipped: dict[str, int] = field(default_factory=dict)
    sidecars: tuple[Path, ...] = ()


def json_line(record: dict[str, Any]) -> str:
    """One JSONL line: keys in the order the exporter built them, non-ASCII text as is."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def _atomic_write(path: Path, lines: Iterable[str]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    n = 0
    try:
        os.fchmod(fd, file_mode())  # as `open` would make it, not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            for line in lines:
                fh.write(line)
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


def write_export(rows: Iterable[dict[str, Any]], fmt: str, out: Path, *, reasoning: bool = True,
                 groups: Iterable[Iterable[dict[str, Any]]] | None = None) -> ExportReport:
    """Write `rows` to `out` in format `fmt`; returns how many records were written and what was skipped, and why.

    `groups` (instead of `rows`) exports each group on its own and concatenates the records: a build's shards are
    such groups for `dpo`, whose pairs never cross a shard, so pairing needs one shard in memory, not the dataset.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    exporter = FORMATS[fmt]
    out = Path(out)
    skipped: Counter = Counter()
    parts = [rows] if groups is None else groups
    records = (r for part in parts for r in exporter.records(part, reasoning=reasoning, skipped=skipped))
    n = _atomic_write(out, (json_line(r) for r in records))
    written = []
    for name, value in (exporter.sidecars(out) if exporter.sidecars else {}).items():
        side = out.parent / name
        _atomic_write(side, [json.dumps(value, indent=2, ensure_ascii=False) + "\n"])
        written.append(side)
    skips = {code: count for code, count in sorted(skipped.items()) if count}
    if skips:
        log.warning("%s export to %s skipped %s", fmt, out, ", ".join(f"{c}={k}" for c, k in skips.items()))
    return ExportReport(path=out, fmt=fmt, records=n, skipped=skips, sidecars=tuple(written))


__all__ = ["FORMATS", "ExportReport", "Exporter", "SkipRow", "json_line", "write_export"]
