"""A row's events read as a chat: the building blocks every trainer format is rendered from.

Events group into blocks: a user turn; a run of consecutive calls (one assistant turn, parallel when several, with
the reasoning shown before it); the run of results that answers it; an agent message (a clarifying question or the
turn's answer). Formats differ only in how they spell these blocks.

Reasoning policy, shared by every trainer format: the thought before a group of calls is kept (when asked for) as
the text of that call turn; the thought behind an agent message is dropped, because chat formats have no separate
place for it and the message text is the answer itself. ADP keeps both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agentfab.schemas.keywords import rewrite


class SkipRow(ValueError):
    """A row this format cannot express; `code` names why, and the export report counts it."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class UserTurn:
    text: str


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments_text: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class CallGroup:
    reasoning: str | None
    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Result:
    call_id: str
    name: str
    content: str

    @property
    def value(self) -> Any:
        """The result as JSON when it is JSON text, else the text itself."""
        try:
            return json.loads(self.content)
        except ValueError:
            return self.content


@dataclass(frozen=True)
class ResultGroup:
    results: tuple[Result, ...]


@dataclass(frozen=True)
class AgentMessage:
    text: str
    reasoning: str | None


Block = UserTurn | CallGroup | ResultGroup | AgentMessage


def dumps(value: Any) -> str:
    """JSON text inside a record (arguments, results, tool lists): compact, UTF-8 as is, keys in given order."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _call(event: dict[str, Any], row_id: str) -> Call:
    name, call_id, text = event.get("function"), event.get("tool_call_id"), event.get("kwargs") or ""
    if not name:
        raise SkipRow("call.no_function", f"row {row_id}: an api_action has no function name")
    if not call_id:
        raise SkipRow("call.no_id", f"row {row_id}: call to {name} has no tool_call_id")
    try:
        arguments = json.loads(text)
    except ValueError:
        raise SkipRow("call.bad_arguments",
                      f"row {row_id}: arguments of {call_id} are not JSON: {text[:80]!r}") from None
    if not isinstance(arguments, dict):
        raise SkipRow("call.bad_arguments", f"row {row_id}: arguments of {call_id} are not a JSON object")
    return Call(call_id, name, text, arguments)


def blocks(row: dict[str, Any], *, reasoning: bool = True) -> list[Block]:
    """The row's content as chat blocks; raises SkipRow for events a chat cannot hold."""
    row_id = row.get("id", "?")
    out: list[Block] = []
    for event in row["content"]:
        cls = event.get("class_")
        if cls == "api_action":
            call = _call(event, row_id)
            thought = (event.get("description") or None) if reasoning else None
            if out and isinstance(out[-1], CallGroup):
                prev = out[-1]
                joined = "\n".join(t for t in (prev.reasoning, thought) if t) or None
                out[-1] = CallGroup(joined, prev.calls + (call,))
            else:
                out.append(CallGroup(thought, (call,)))
        elif cls == "text_observation" and event.get("source") == "environment":
            if not event.get("tool_call_id"):
                raise SkipRow("result.no_id", f"row {row_id}: an environment observation has no tool_call_id")
            result = Result(event["tool_call_id"], event.get("name") or "", event.get("content") or "")
            if out and isinstance(out[-1], ResultGroup):
                out[-1] = ResultGroup(out[-1].results + (result,))
            else:
                out.append(ResultGroup((result,)))
        elif cls == "text_observation" and event.get("source") == "user":
            out.append(UserTurn(event.get("content") or ""))
        elif cls == "message_action":
            out.append(AgentMessage(event.get("content") or "", event.get("description") if reasoning else None))
        else:
            raise SkipRow("event.unsupported", f"row {row_id}: no chat form for {cls} (source={event.get('source')})")
    _check_pairs(out, row_id)
    return out


def _check_pairs(out: list[Block], row_id: str) -> None:
    """Every result answers a call of the group just before it, and every call is answered."""
    for i, block in enumerate(out):
        if isinstance(block, CallGroup):
            nxt = out[i + 1] if i + 1 < len(out) else None
            wanted = {c.id for c in block.calls}
            got = {r.call_id for r in nxt.results} if isinstance(nxt, ResultGroup) else set()
            if wanted != got or len(wanted) != len(block.calls):
                raise SkipRow("result.unpaired", f"row {row_id}: calls {sorted(wanted)} answered by {sorted(got)}")
        elif isinstance(block, ResultGroup) and not (i and isinstance(out[i - 1], CallGroup)):
            raise SkipRow("result.unpaired", f"row {row_id}: results with no call before them")


def _is_extension(keyword: str) -> bool:
    """agentfab's own annotations (x-entity...), which a trained prompt should not see."""
    return keyword.startswith("x-")


def tool_functions(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The row's tools as bare `{name, description, parameters}` function specs."""
    specs = []
    for tool in row.get("tools") or []:
        try:
            parameters = json.loads(tool["parameters"])
        except ValueError:
            raise SkipRow("tool.bad_parameters",
                          f"row {row.get('id')}: parameters of {tool['name']} are not JSON") from None
        specs.append({"name": tool["name"], "description": tool["description"],
                      "parameters": rewrite(parameters, drop=_is_extension)})
    return specs


def openai_tools(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The row's tools in the OpenAI wrapper `{"type": "function", "function": {...}}`."""
    return [{"type": "function", "function": spec} for spec in tool_functions(row)]


def system_prompt(row: dict[str, Any]) -> str:
    domain = row.get("domain") or "general"
    return (f"You are a helpful assistant for {domain} tasks. Use the provided tools when they help, "
            "and ask the user when a required detail is missing.")


def spell(row: dict[str, Any], *, reasoning: bool, user: Callable[[UserTurn], list[dict[str, Any]]],
          agent: Callable[[AgentMessage], list[dict[str, Any]]], calls: Callable[[CallGroup], list[dict[str, Any]]],
          results: Callable[[ResultGroup], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The row's blocks in a format's words: each block becomes the messages its speller returns, in order."""
    spellers: dict[type, Callable[[Any], list[dict[str, Any]]]] = {
        UserTurn: user, AgentMessage: agent, CallGroup: calls, ResultGroup: results}
    out: list[dict[str, Any]] = []
    for block in blocks(row, reasoning=reasoning):
        out.extend(spellers[type(block)](block))
    return out


def from_value_turns(row: dict[str, Any], *, reasoning: bool, calls: Callable[[CallGroup], dict[str, str]],
                     results: Callable[[ResultGroup], dict[str, str]]) -> list[dict[str, str]]:
    """ShareGPT-style turns (`{"from", "value"}`, as ShareGPT and Hermes write them): user text is a `human` turn,
    an agent message a `gpt` turn; a group of calls and the results answering it are the turns the format's
    `calls` and `results` spell."""
    return spell(row, reasoning=reasoning, user=lambda b: [{"from": "human", "value": b.text}],
                 agent=lambda b: [{"from": "gpt", "value": b.text}], calls=lambda b: [calls(b)],
                 results=lambda b: [results(b)])


def chat_messages(row: dict[str, Any], *, reasoning: bool, arguments_as_text: bool,
                  tool_names: bool) -> list[dict[str, Any]]:
    """Chat-completions messages: one assistant message per group of calls, one `tool` message per result.

    The two dialects differ only where the formats do: OpenAI wants arguments as JSON text and `content: null`
    beside calls; Hugging Face templates want arguments as objects, no empty content, and a `name` on tool messages.
    """
    def call_message(block: CallGroup) -> list[dict[str, Any]]:
        msg: dict[str, Any] = {"role": "assistant"}
        if arguments_as_text or block.reasoning:
            msg["content"] = block.reasoning
        msg["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": c.arguments_text if arguments_as_text else c.arguments}}
            for c in block.calls]
        return [msg]

    def tool_messages(block: ResultGroup) -> list[dict[str, Any]]:
        return [{**({"role": "tool", "name": r.name} if tool_names else {"role": "tool"}), "tool_call_id": r.call_id,
                 "content": r.content} for r in block.results]

    return [{"role": "system", "content": system_prompt(row)},
            *spell(row, reasoning=reasoning, user=lambda b: [{"role": "user", "content": b.text}],
                   agent=lambda b: [{"role": "assistant", "content": b.text}], calls=call_message,
                   results=tool_messages)]
