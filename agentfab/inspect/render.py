"""One trajectory, read as a conversation: as plain text for the terminal and as HTML for the report.

HTML comes only from the Jinja2 templates in `templates/`, rendered with autoescaping on (`HTML`): a value from the
dataset is escaped unless code marks it as markup on purpose (the SVG plots, which escape their own labels).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined

from agentfab.inspect.dataset import SPLITS, open_build

HTML = Environment(loader=PackageLoader("agentfab.inspect", "templates"), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


@dataclass(frozen=True)
class Block:
    """One line of the conversation. `role` is user, reasoning, call, result, reply or other."""

    role: str
    text: str
    call_id: str | None = None


def blocks(row: dict[str, Any]) -> list[Block]:
    """The row's events as conversation blocks; the reasoning before a call or reply gets a block of its own."""
    out: list[Block] = []
    for event in row.get("content") or []:
        cls, text, call_id = event.get("class_"), event.get("content") or "", event.get("tool_call_id")
        if cls in ("api_action", "message_action", "code_action") and event.get("description"):
            out.append(Block("reasoning", event["description"]))
        if cls == "api_action":
            out.append(Block("call", f"{event.get('function')}({event.get('kwargs') or ''})", call_id))
        elif cls == "code_action":
            out.append(Block("call", f"code ({event.get('language') or '?'}): {text}", call_id))
        elif cls == "message_action":
            out.append(Block("reply", text))
        elif cls == "text_observation" and event.get("source") == "user":
            out.append(Block("user", text, call_id))
        elif cls == "text_observation":
            out.append(Block("result", text, call_id))
        else:
            out.append(Block("other", f"{cls}: {text}", call_id))
    return out


def _header(row: dict[str, Any]) -> str:
    fields = ("kind", "domain", "depth", "width", "n_turns", "n_calls", "n_errors")
    return f"{row.get('id')}  (task {row.get('task_id')})  " + "  ".join(f"{f}={row.get(f)}" for f in fields)


def verdict_lines(row: dict[str, Any]) -> list[str]:
    """Status with reason codes, the judge's score, one line per failed check, and the perturbation if any."""
    v = row.get("verification") or {}
    if v.get("passed"):
        lines = ["ACCEPTED"]
    else:
        lines = ["REJECTED  " + (", ".join(v.get("reasons") or []) or "(no reason code)")]
    lines.append(f"judge {v.get('judge_score')}: {v.get('judge_rationale') or ''}".rstrip(": "))
    lines += [f"  - {d}" for d in v.get("details") or []]
    negative = (row.get("provenance") or {}).get("negative")
    if negative:
        lines.append(f"deliberate negative: {negative}")
    return lines


_TEXT_LABEL = {"user": "User: ", "reasoning": "Assistant (reasoning): ", "call": "  -> ", "result": "  <- ",
               "reply": "Assistant: ", "other": "  ?? "}


def _indent(text: str, pad: int) -> str:
    return text.replace("\n", "\n" + " " * pad)


# Terminal control: CSI (colours, cursor moves, screen clears), OSC (window titles, hyperlinks), other ESC
# sequences, and any C0/C1 control character but newline and tab. Row text is data: it must never drive the terminal.
_CONTROL = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[ -/]*[0-~]?)"
                      r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """`text` without terminal control sequences (a row's text can hold any character)."""
    return _CONTROL.sub("", text)


def render_trajectory(row: dict[str, Any]) -> str:
    """A row as a readable conversation followed by its verification verdict (plain text, no markup and no
    terminal control sequences)."""
    lines = [_header(row), ""]
    for b in blocks(row):
        label = _TEXT_LABEL[b.role]
        tag = f" [{b.call_id}]" if b.call_id else ""
        lines.append(label + _indent(b.text, len(label)) + tag)
    lines += ["", "Verdict: " + verdict_lines(row)[0], *verdict_lines(row)[1:]]
    return terminal_safe("\n".join(lines))


_HTML_LABEL = {"user": "User", "reasoning": "Assistant (reasoning)", "call": "→ call", "result": "← result",
               "reply": "Assistant", "other": "other"}


def trajectory_view(row: dict[str, Any]) -> dict[str, Any]:
    """What the trajectory template shows of a row (plain values; the template escapes them)."""
    passed = bool((row.get("verification") or {}).get("passed"))
    status_line, judge, *rest = verdict_lines(row)
    return {
        "status": "accepted" if passed else "rejected",
        "id": str(row.get("id")),
        "meta": _header(row).split("  ", 1)[1],
        "blocks": [{"role": b.role, "label": _HTML_LABEL[b.role], "call_id": b.call_id, "text": b.text}
                   for b in blocks(row)],
        "status_line": status_line,
        "judge": judge,
        "details": [line[4:] for line in rest if line.startswith("  - ")],
        "notes": [line for line in rest if not line.startswith("  - ")],
    }


def trajectory_html(row: dict[str, Any]) -> str:
    """A row as an HTML fragment; every dataset value is escaped, so its text can never become markup."""
    return HTML.get_template("trajectory.html.j2").render(t=trajectory_view(row)).strip()


def find_row(dataset_dir: str | Path, row_id: str) -> dict[str, Any]:
    """The row with this id, from accepted rows first, then rejected; ValueError with example ids when absent."""
    build = open_build(dataset_dir)
    for split in SPLITS:
        df = build.scan(split).filter(pl.col("id") == row_id).head(1).collect()
        if df.height:
            return df.row(0, named=True)
    similar: list[str] = []
    examples: list[str] = []
    for split in SPLITS:
        ids = build.scan(split).select("id")
        similar += ids.filter(pl.col("id").str.contains(row_id, literal=True)).head(5).collect()["id"].to_list()
        examples += ids.head(3).collect()["id"].to_list()
    hint = f"ids containing it: {', '.join(similar[:5])}" if similar else f"ids look like: {', '.join(examples)}"
    raise ValueError(f"no row with id {row_id!r} in {build.path} (accepted or rejected); {hint}")
