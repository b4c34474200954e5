"""Importers: trainer-format files (openai, hf, sharegpt, hermes, xlam) -> agentfab events, tools and system prompt.

`read_records(path, fmt)` reads a `.jsonl` file (one record per line) or a `.json` file (one array of records) and
returns every record it could convert plus one `ImportError_` per record it could not, with the record's line
(for `.json`, its array index + 1) and the reason; one bad record never costs the good ones. `iter_records` does
the same one record at a time: both kinds of file are streamed (`imports.json_array` reads an array). Each
converted record is checked against the ADP `Trajectory` model (calls and results pair up, ids are unique) before it is kept.

The formats are the exporters' (see `agentfab/formats/export/*.py` and formats.md): exporting rows and importing the
file gives back the same users' text, calls, arguments, results and replies. What a format does not carry is not
invented: the thought behind an agent message (no chat format keeps it), call ids in ShareGPT/Hermes/xLAM (minted
as `call_1`...), tool result schemas and `mutates` (True, the safe default; see `formats.toolspecs`).
Converters are in `imports.convert`, tool importers in `formats.toolspecs` (`tools_from_openapi`, `tools_from_mcp`,
`tools_from_json`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pydantic import ValidationError

from agentfab.formats.imports.convert import CONVERTERS, Converted, RecordError
from agentfab.formats.imports.json_array import ArrayError, BadElement, iter_array
from agentfab.formats.toolspecs.documents import slug, tool_name
from agentfab.schemas.rows import EventRow
from agentfab.schemas.tools import ToolSpec
from agentfab.schemas.trajectory import Trajectory

FORMATS = tuple(CONVERTERS)


class ImportFileError(ValueError):
    """A file that cannot be read as records at all (unknown format or extension, a `.json` that does not parse)."""


@dataclass(frozen=True)
class ImportError_:
    """One record that was not imported: where it is in the file, and why."""

    line: int
    reason: str


@dataclass
class ImportedRecord:
    id: str
    line: int
    events: list[dict[str, Any]]
    tools: list[ToolSpec]
    system: str | None = None
    notes: list[str] = field(default_factory=list)

    def row_content(self) -> list[dict[str, Any]]:
        """The events in a dataset row's storage form (`EventRow`, every field present, kwargs as JSON text)."""
        return [EventRow.model_validate(
            {**e, "kwargs": json.dumps(e["kwargs"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)}
            if e["class_"] == "api_action" else e).model_dump() for e in self.events]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "line": self.line, "system": self.system, "events": self.events,
                "tools": [t.model_dump(mode="json") for t in self.tools], "notes": self.notes}


@dataclass
class ImportResult:
    records: list[ImportedRecord] = field(default_factory=list)
    errors: list[ImportError_] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"records": [r.to_dict() for r in self.records],
                "errors": [{"line": e.line, "reason": e.reason} for e in self.errors]}


def read_records(path: Path | str, fmt: str) -> ImportResult:
    """Every record of `path` in format `fmt` (one of FORMATS), converted, and every failure with its line."""
    result = ImportResult()
    for item in iter_records(path, fmt):
        (result.errors if isinstance(item, ImportError_) else result.records).append(item)
    return result


def iter_records(path: Path | str, fmt: str) -> Iterator[ImportedRecord | ImportError_]:
    """`read_records` one record at a time, in file order: a `.jsonl` file is read in constant memory."""
    if fmt not in CONVERTERS:
        raise ImportFileError(f"unknown import format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    domain = slug(path.stem) or "imported"
    for line, raw in _raw_records(path):
        if isinstance(raw, ImportError_):
            yield raw
            continue
        try:
            yield _record(raw, fmt, line, path.stem, domain)
        except RecordError as exc:
            yield ImportError_(line, str(exc))
        except (TypeError, AttributeError, KeyError, ValueError, RecursionError) as exc:
            # a shape no check foresaw: report it, keep going
            yield ImportError_(line, f"unexpected record shape ({type(exc).__name__}: {str(exc)[:300]})")


def _raw_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | ImportError_]]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with path.open("rb") as fh:
            for line, raw in enumerate(fh, start=1):
                if raw.strip():
                    yield line, _parse_line(raw, line)
    elif suffix == ".json":
        try:
            for index, item in iter_array(path):
                if isinstance(item, BadElement):
                    yield index, ImportError_(index, item.reason)
                else:
                    yield index, item if isinstance(item, dict) else ImportError_(index, _not_object(item))
        except ArrayError as exc:
            raise ImportFileError(f"{path}: {exc}") from None
    else:
        raise ImportFileError(f"{path}: expected a .jsonl file (one record per line) or a .json array")


def _parse_line(raw: bytes, line: int) -> dict[str, Any] | ImportError_:
    try:
        value = json.loads(raw.decode("utf-8-sig" if line == 1 else "utf-8").strip())
    except UnicodeDecodeError as exc:
        return ImportError_(line, f"not UTF-8 text (byte {exc.start})")
    except RecursionError:
        return ImportError_(line, "not JSON: nested too deeply to parse")
    except json.JSONDecodeError as exc:
        return ImportError_(line, f"not JSON: {exc.msg} (column {exc.colno})")
    return value if isinstance(value, dict) else ImportError_(line, _not_object(value))


def _not_object(value: Any) -> str:
    return f"a record must be a JSON object, got {type(value).__name__}"


def _record(raw: dict[str, Any], fmt: str, line: int, stem: str, domain: str) -> ImportedRecord:
    given = raw.get("id")
    record_id = str(given) if isinstance(given, (str, int)) and not isinstance(given, bool) and given != "" \
        else f"{stem}-{line}"
    converted = CONVERTERS[fmt](raw, domain)
    _match_tool_names(converted)
    try:
        Trajectory.model_validate({"id": record_id, "content": converted.events})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3])
        raise RecordError(f"not a valid trajectory: {problems}") from None
    return ImportedRecord(record_id, line, converted.events, converted.tools, converted.system, converted.notes)


def _match_tool_names(converted: Converted) -> None:
    """Calls follow their tool when its name had to be made valid (`get-weather` -> `get_weather`)."""
    names = {t.name for t in converted.tools}
    for event in converted.events:
        function = event.get("function") if event["class_"] == "api_action" else event.get("name")
        if function is None or function in names or tool_name(function) not in names:
            continue
        key = "function" if event["class_"] == "api_action" else "name"
        if key == "function":
            converted.notes.append(f"calls to {function!r} renamed {tool_name(function)!r}, a valid function name")
        event[key] = tool_name(function)
    unknown = sorted({e["function"] for e in converted.events if e["class_"] == "api_action"} - names)
    if converted.tools and unknown:
        converted.notes.append(f"calls {', '.join(map(repr, unknown))}, which the record's tools do not list")
    converted.notes[:] = list(dict.fromkeys(converted.notes))


__all__ = ["FORMATS", "ImportError_", "ImportFileError", "ImportResult", "ImportedRecord", "iter_records",
           "read_records"]
