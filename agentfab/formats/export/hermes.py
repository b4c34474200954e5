"""The Hermes function-calling format (NousResearch/hermes-function-calling-v1), the `hermes` format.

ShareGPT-like `{"id", "conversations"}` with `from` system/human/gpt/tool. The system turn lists the tools as a JSON
list of OpenAI-style specs inside `<tools></tools>`. A call turn is one `<tool_call>` block per call, holding strict
JSON `{"name", "arguments"}` (the published dataset sometimes has Python reprs there; this writer never does). A
tool turn is one `<tool_response>` block per result, `{"name", "content": <result object>}`. The reasoning before
calls, when kept, is plain text ahead of the first block of that gpt turn.
"""

from __future__ import annotations

import json
from typing import Any

from agentfab.formats.export.chat import CallGroup, ResultGroup, from_value_turns, openai_tools


def _dumps(value: Any) -> str:
    # Spaced JSON, as Hermes chat templates render calls (`tojson`), so training text matches inference text.
    return json.dumps(value, ensure_ascii=False)


def system_turn(row: dict[str, Any]) -> str:
    domain = row.get("domain") or "general"
    return (
        f"You are a function-calling AI model helping with {domain} tasks. The functions you may call are "
        "described as JSON inside <tools></tools> tags. Do not guess values to pass: ask the user when one "
        f"is missing.\n<tools>\n{_dumps(openai_tools(row))}\n</tools>\n"
        "To call functions, answer with one <tool_call></tool_call> block per call, each holding a JSON object "
        'with the function name and its arguments:\n<tool_call>\n{"name": <function-name>, "arguments": '
        "<args-dict>}\n</tool_call>"
    )


def conversations(row: dict[str, Any], *, reasoning: bool = True) -> list[dict[str, str]]:
    return [{"from": "system", "value": system_turn(row)},
            *from_value_turns(row, reasoning=reasoning, calls=_call_turn, results=_result_turn)]


def _call_turn(block: CallGroup) -> dict[str, str]:
    calls = "\n".join(f"<tool_call>\n{_dumps({'name': c.name, 'arguments': c.arguments})}\n</tool_call>"
                      for c in block.calls)
    return {"from": "gpt", "value": f"{block.reasoning}\n{calls}" if block.reasoning else calls}


def _result_turn(block: ResultGroup) -> dict[str, str]:
    return {"from": "tool", "value": "\n".join(
        f"<tool_response>\n{_dumps({'name': r.name, 'content': r.value})}\n</tool_response>" for r in block.results)}


def export_row(row: dict[str, Any], *, reasoning: bool = True) -> dict[str, Any]:
    return {"id": row["id"], "conversations": conversations(row, reasoning=reasoning)}
