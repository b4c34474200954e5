"""ShareGPT as LLaMA-Factory reads it (the `sharegpt` format), and its `dataset_info.json` entry.

A record is `{"conversations": [{"from", "value"}], "system", "tools": <JSON text of [{name, description,
parameters}]>}`. A call turn (`function_call`) holds `{"name", "arguments": {...}}` as JSON text, or a JSON list of
them for parallel calls; the results of one call turn are ONE `observation` turn (the result text for a single call,
a JSON list of the results for several), because LLaMA-Factory needs human/observation at even positions and
gpt/function_call at odd ones, and an even number of turns. A record that breaks that is skipped there with only
a warning, so this exporter refuses it here instead (`sharegpt.turn_order`).

Reasoning before a call cannot be a gpt turn of its own (two model turns in a row break the order). It is folded
into the call turn as `<think>\\n...\\n</think>\\n\\n` before the JSON: LLaMA-Factory's FunctionFormatter cuts its
template's thought words out before `json.loads` and puts them back in front of the rendered call, so the model
learns to think, then call. LLaMA-Factory releases whose FunctionFormatter predates thought words fail on such a
turn; export with `--no-reasoning` for them (the value is then pure JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentfab.formats.export.chat import (CallGroup, ResultGroup, SkipRow, dumps, from_value_turns, system_prompt,
                                          tool_functions)

USER, MODEL = ("human", "observation"), ("gpt", "function_call")


def conversations(row: dict[str, Any], *, reasoning: bool = True) -> list[dict[str, str]]:
    turns = from_value_turns(row, reasoning=reasoning, calls=_call_turn, results=_result_turn)
    problem = turn_order_problem(turns)
    if problem:
        raise SkipRow("sharegpt.turn_order", f"row {row.get('id')}: {problem}")
    return turns


def _call_turn(block: CallGroup) -> dict[str, str]:
    calls = [{"name": c.name, "arguments": c.arguments} for c in block.calls]
    value = dumps(calls[0] if len(calls) == 1 else calls)
    if block.reasoning:
        value = f"<think>\n{block.reasoning}\n</think>\n\n{value}"
    return {"from": "function_call", "value": value}


def _result_turn(block: ResultGroup) -> dict[str, str]:
    results = block.results
    value = results[0].content if len(results) == 1 else dumps([r.value for r in results])
    return {"from": "observation", "value": value}


def turn_order_problem(turns: list[dict[str, str]]) -> str | None:
    """Why LLaMA-Factory would skip these turns (system turn already removed), or None."""
    if not turns or len(turns) % 2:
        return f"{len(turns)} turns; LLaMA-Factory needs an even, non-zero number"
    for i, turn in enumerate(turns):
        allowed = USER if i % 2 == 0 else MODEL
        if turn["from"] not in allowed:
            return f"turn {i} is {turn['from']!r}; it must be one of {', '.join(allowed)}"
    return None


def export_row(row: dict[str, Any], *, reasoning: bool = True) -> dict[str, Any]:
    return {"conversations": conversations(row, reasoning=reasoning), "system": system_prompt(row),
            "tools": dumps(tool_functions(row))}


def dataset_info_entry(out: Path) -> dict[str, Any]:
    """The entry registering `out` in a LLaMA-Factory `dataset_info.json` beside it; the name is the file's stem."""
    return {out.stem: {"file_name": out.name, "formatting": "sharegpt",
                       "columns": {"messages": "conversations", "system": "system", "tools": "tools"}}}


def merged_dataset_info(out: Path) -> dict[str, Any]:
    """`dataset_info.json` beside `out`, with this export's entry added or replaced and the others kept."""
    path = out.parent / "dataset_info.json"
    info: dict[str, Any] = {}
    if path.exists():
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); fix or remove it before exporting") from None
        if not isinstance(info, dict):
            raise ValueError(f"{path} must hold a JSON object of dataset entries")
    info.update(dataset_info_entry(out))
    return info
