"""`agentfab import`: outside data (openai, hf, sharegpt, hermes, xlam) -> ADP rows, re-verified, as a dataset folder.

Every record gets the structural and schema checks (roles, call/result pairing, known tools, arguments valid under
the tool's JSON Schema). With `--world`, calls to tools that world has are also replayed on a fresh seeded world
and must reproduce the recorded results. Malformed records are reported with their line and kept out; the good
ones are written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentfab.flows.ownership import check_writable, start_ledger, writer_lock
from agentfab.flows.rows import (EMPTY_GROUND_TRUTH, ground_truth_record, tool_row, trajectory_row,
                                 verification_record)
from agentfab.flows.storage import RowsWriter, write_json
from agentfab.schemas.codes import stage_of
from agentfab.validators.replay import replay
from agentfab.validators.structure import check_calls, check_events
from agentfab.worlds.core import Tool
from agentfab.worlds.registry import builtin_domain


def _not_executable(*_: Any, **__: Any) -> Any:
    raise RuntimeError("an imported tool has no implementation; only its schema is checked")


@dataclass
class ImportSummary:
    out: Path
    accepted: int = 0
    rejected: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)


def _shape(events: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(depth, width, n_turns) read off the events: call groups in a row, the largest group, user turns."""
    depth = width = run = 0
    for e in events:
        if e["class_"] == "api_action":
            run += 1
            width = max(width, run)
        else:
            if run:
                depth += 1
            run = 0
    depth += 1 if run else 0
    turns = sum(1 for e in events if e["class_"] == "text_observation" and e.get("source") == "user")
    return depth, width, turns


def run_import(path: Path, fmt: str, out: Path, *, world: str | None = None, world_seed: int = 0) -> ImportSummary:
    """Import `path` into the new dataset folder `out` (an existing dataset is refused, never replaced)."""
    check_writable(out, command="import")
    with writer_lock(out):
        start_ledger(out)
        return _import_into(path, fmt, out, world, world_seed)


def _import_into(path: Path, fmt: str, out: Path, world: str | None, world_seed: int) -> ImportSummary:
    from agentfab.formats.imports import ImportError_, iter_records

    domain = builtin_domain(world) if world else None
    store = domain.seeded(world_seed) if domain else None
    summary = ImportSummary(out=out)
    reasons: dict[str, int] = {}
    meta = {"recipe_hash": "", "shard": "0", "imported_from": fmt}
    sinks = {True: RowsWriter(out / "rejected" / "shard-00000.parquet", meta),
             False: RowsWriter(out / "shards" / "shard-00000.parquet", meta)}
    try:
        for rec in iter_records(path, fmt):  # one record in memory at a time (and one batch of rows per file)
            if isinstance(rec, ImportError_):
                summary.bad_lines.append((rec.line, rec.reason))
                continue
            try:
                tools = {t.name: Tool(spec=t, run=_not_executable) for t in rec.tools}
                failures = check_events(rec.events) + check_calls(rec.events, tools)
                if domain is not None and store is not None:
                    known = {t.name for t in domain.tools}
                    runnable = {n: domain.tool(n) for n in tools if n in known}
                    if runnable:
                        failures += replay(rec.events, runnable, store).failures
                codes = list(dict.fromkeys(code for code, _ in failures))
                row = trajectory_row(
                    row_id=rec.id, task_id=rec.id, family=rec.id, domain=world or "imported", kind="imported",
                    shape=_shape(rec.events),
                    query=next((e["content"] for e in rec.events if e.get("source") == "user"), ""),
                    content=rec.events, tools=[tool_row(t) for t in rec.tools],
                    details={"imported_from": fmt, "file": path.name, "line": rec.line, "system": rec.system,
                             "notes": rec.notes},
                    ground_truth=ground_truth_record(**EMPTY_GROUND_TRUTH),
                    verification=verification_record(
                        passed=not codes, reasons=codes, details=[f"{c}: {d}" for c, d in failures],
                        judge_score=0.0, judge_rationale="not judged (imported)",
                        stages=sorted({stage_of(c) for c in codes} | {"schema"}), dedup_key=""),
                    provenance={"recipe_name": f"import:{path.name}", "recipe_hash": "", "seed": 0, "shard": 0,
                                "world_seed": world_seed, "world_offset": 0, "world": world or "",
                                "engine": f"import:{fmt}", "models": "{}", "negative": None},
                )
                json.dumps(row, ensure_ascii=False).encode("utf-8")  # a lone surrogate cannot be stored
            except Exception as exc:  # noqa: BLE001 - one record's failure is that record's, with its line
                summary.bad_lines.append((rec.line, _why(exc)))
                continue
            for code in codes:
                reasons[code] = reasons.get(code, 0) + 1
            sinks[bool(codes)].add(row)
        files = {"rejected": sinks[True].close(), "accepted": sinks[False].close()}
    except BaseException as exc:
        for sink in sinks.values():
            if not sink.written:
                sink.abort(exc)
        raise
    summary.accepted, summary.rejected = files["accepted"]["rows"], files["rejected"]["rows"]
    summary.reasons = dict(sorted(reasons.items()))
    write_json(out / "import.json", {"source": str(path), "format": fmt, "world": world, "world_seed": world_seed,
                                     "accepted": summary.accepted, "rejected": summary.rejected,
                                     "reasons": summary.reasons, "files": files,
                                     "bad_lines": [{"line": n, "reason": r} for n, r in summary.bad_lines]})
    return summary


def _why(exc: Exception) -> str:
    if isinstance(exc, UnicodeEncodeError):
        return f"text holds a lone surrogate ({exc.object[exc.start:exc.end]!r}), which is not valid Unicode"
    return f"cannot be checked ({type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''})"


def import_report_lines(summary: ImportSummary) -> list[str]:
    lines = [f"imported {summary.accepted} records ({summary.rejected} failed checks) -> {summary.out}"]
    lines += [f"  {code}: {n}" for code, n in summary.reasons.items()]
    lines += [f"  line {n}: {reason}" for n, reason in summary.bad_lines]
    return lines


__all__ = ["ImportSummary", "import_report_lines", "run_import"]
