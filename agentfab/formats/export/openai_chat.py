"""OpenAI chat fine-tuning JSONL with tools (the `openai` format), and the line checker it must pass.

A record is `{"messages", "tools", "parallel_tool_calls": true}`. A run of calls is one assistant message with several
`tool_calls`, each `{"id", "type": "function", "function": {"name", "arguments": <JSON text>}}`; each result is its
own `tool` message carrying `tool_call_id`. The reasoning before the calls, when kept, is that message's `content`;
otherwise `content` is null. Tool messages carry no `name`: the fine-tuning schema does not list one. An assistant
turn whose every call failed gets `weight: 0` (OpenAI trains on weight-1 assistant messages only).
"""

from __future__ import annotations

import json
from typing import Any

from agentfab.formats.export.chat import SkipRow, chat_messages, openai_tools


def messages(row: dict[str, Any], *, reasoning: bool = True) -> list[dict[str, Any]]:
    out = chat_messages(row, reasoning=reasoning, arguments_as_text=True, tool_names=False)
    return _skip_failed_calls(out)


def _skip_failed_calls(out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`weight: 0` on an assistant turn whose every call failed (a wrong call before a recovery): the model should
    learn the recovery, not the mistake. Everything else keeps the default weight."""
    failed = {m["tool_call_id"] for m in out if m["role"] == "tool" and _is_error(m["content"])}
    for m in out:
        calls = m.get("tool_calls")
        if calls and all(c["id"] in failed for c in calls):
            m["weight"] = 0
    return out


def _is_error(content: str) -> bool:
    try:
        value = json.loads(content)
    except (TypeError, ValueError):
        return False
    return isinstance(value, dict) and set(value) == {"error"}


def export_row(row: dict[str, Any], *, reasoning: bool = True) -> dict[str, Any]:
    """The record, or SkipRow when it would fail `check_openai_line` (e.g. an empty answer in a negative row)."""
    record = {"messages": messages(row, reasoning=reasoning), "tools": openai_tools(row), "parallel_tool_calls": True}
    errors = check_openai_line(record)
    if errors:
        raise SkipRow(f"openai.{errors[0].split(':')[0]}", f"row {row.get('id')}: {'; '.join(errors)}")
    return record


# --- the checker -------------------------------------------------------------------------------------------------
# The cookbook's checks (Chat_finetuning_data_prep) with their codes, widened to tools as formats.md §2 asks.

ROLES = ("system", "developer", "user", "assistant", "tool")
MESSAGE_KEYS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "weight", "function_call"},
    "tool": {"role", "content", "tool_call_id"},
}
RECORD_KEYS = {"messages", "tools", "parallel_tool_calls", "functions"}


def _check_tools(tools: Any) -> tuple[list[str], set[str] | None]:
    if tools is None:
        return [], None
    if not isinstance(tools, list):
        return ["tools_not_list: tools must be a list"], None
    errors, names = [], set()
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
            errors.append(f"tool_bad_shape: tools[{i}] must be {{'type': 'function', 'function': {{...}}}}")
            continue
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            errors.append(f"tool_missing_name: tools[{i}]")
            continue
        if fn["name"] in names:
            errors.append(f"tool_duplicate_name: tools[{i}] {fn['name']!r}")
        names.add(fn["name"])
        params = fn.get("parameters")
        if params is not None and (not isinstance(params, dict) or params.get("type") != "object"):
            errors.append(f"tool_bad_parameters: tools[{i}] parameters must be a JSON Schema object")
    return errors, names


def _check_tool_calls(calls: Any, where: str, names: set[str] | None, seen: set[str],
                      pending: set[str]) -> list[str]:
    if not isinstance(calls, list) or not calls:
        return [f"tool_calls_not_list: {where}.tool_calls must be a non-empty list"]
    errors = []
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or call.get("type") != "function" or not isinstance(fn, dict):
            errors.append(f"tool_call_bad_shape: {at} must be {{'id', 'type': 'function', 'function': {{...}}}}")
            continue
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            errors.append(f"tool_call_missing_id: {at}")
        elif call_id in seen:
            errors.append(f"tool_call_duplicate_id: {at} reuses {call_id!r}")
        else:
            seen.add(call_id)
            pending.add(call_id)
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            errors.append(f"tool_call_missing_name: {at}")
        elif names is not None and name not in names:
            errors.append(f"tool_call_unknown_function: {at} calls {name!r}, which tools does not list")
        arguments = fn.get("arguments")
        if not isinstance(arguments, str):
            errors.append(f"arguments_not_string: {at}.function.arguments must be JSON text")
            continue
        try:
            decoded = json.loads(arguments)
        except ValueError:
            errors.append(f"arguments_not_json: {at}.function.arguments does not parse")
            continue
        if not isinstance(decoded, dict):
            errors.append(f"arguments_not_object: {at}.function.arguments is not a JSON object")
    return errors


def _check_message(msg: Any, i: int, names: set[str] | None, seen: set[str], pending: set[str]) -> list[str]:
    where = f"messages[{i}]"
    if not isinstance(msg, dict):
        return [f"message_not_dict: {where}"]
    role = msg.get("role")
    if "role" not in msg:
        return [f"message_missing_key: {where} has no role"]
    if role not in ROLES:
        return [f"unrecognized_role: {where} role {role!r} is not one of {', '.join(ROLES)}"]
    errors = [f"message_unrecognized_key: {where}.{k}" for k in msg if k not in MESSAGE_KEYS[role]]
    calls = msg.get("tool_calls")
    content = msg.get("content")
    if calls is None and msg.get("function_call") is None:
        if "content" not in msg:
            errors.append(f"message_missing_key: {where} has no content")
        elif not isinstance(content, str) or not content:
            errors.append(f"missing_content: {where} content must be a non-empty string")
    elif content is not None and not isinstance(content, str):
        errors.append(f"missing_content: {where} content must be a string or null")
    if "weight" in msg and msg["weight"] not in (0, 1):
        errors.append(f"bad_weight: {where} weight must be 0 or 1")
    if calls is not None:
        errors += _check_tool_calls(calls, where, names, seen, pending)
    if role == "tool":
        call_id = msg.get("tool_call_id")
        if call_id not in pending:
            errors.append(f"tool_message_unanswered_call: {where} answers {call_id!r}, "
                          "which no earlier unanswered tool call made")
        pending.discard(call_id)
    return errors


def check_openai_line(obj: Any) -> list[str]:
    """Format errors of one fine-tuning record, as `code: where/why` strings; empty when the line is fine."""
    if not isinstance(obj, dict):
        return ["data_type: a line must be a JSON object"]
    errors = [f"unrecognized_key: {k}" for k in obj if k not in RECORD_KEYS]
    msgs = obj.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return errors + ["missing_messages_list: messages must be a non-empty list"]
    if "parallel_tool_calls" in obj and not isinstance(obj["parallel_tool_calls"], bool):
        errors.append("parallel_tool_calls_not_bool")
    tool_errors, names = _check_tools(obj.get("tools"))
    errors += tool_errors
    seen: set[str] = set()
    pending: set[str] = set()
    for i, msg in enumerate(msgs):
        if pending and not (isinstance(msg, dict) and msg.get("role") == "tool"):
            errors.append(f"tool_call_unanswered: {', '.join(sorted(pending))} get no tool message "
                          f"before messages[{i}]")
            pending.clear()
        errors += _check_message(msg, i, names, seen, pending)
    last = msgs[-1]
    # A record may end on the assistant's calls (training the call itself), but not on half of their answers.
    if pending and not (isinstance(last, dict) and last.get("role") == "assistant"):
        errors.append(f"tool_call_unanswered: {', '.join(sorted(pending))} get no tool message")
    if not any(isinstance(m, dict) and m.get("role") == "assistant" for m in msgs):
        errors.append("example_missing_assistant_message")
    return errors
