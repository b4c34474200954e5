"""One record of a trainer format -> agentfab events, tools and system prompt (the converters behind read_records).

Events come out in the in-memory form of a row's `content`, except that `kwargs` is a dict:
user `{class_: text_observation, source: user, content}`, call `{class_: api_action, function, kwargs,
description, tool_call_id}`, result `{class_: text_observation, source: environment, content, tool_call_id, name}`,
agent message `{class_: message_action, content, description}`. A result's `name` is the function of the call it
answers. Results that are not text are kept as compact JSON text.

Formats without call ids (ShareGPT, Hermes, xLAM) get minted ones, `call_1`, `call_2`..., and pair results with the
calls of the turn just before them, in order (Hermes: by name first, when a response names its function).
A record that cannot be converted raises `RecordError`, whose message becomes the import error's reason.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from agentfab.formats.toolspecs.documents import ToolImportError
from agentfab.formats.toolspecs.sources import tool_from_function, tool_from_xlam
from agentfab.schemas.tools import ToolSpec

MAX_LITERAL_CHARS = 1_000_000  # Python-repr payloads longer than this are not parsed (ast is slow on huge input)


class RecordError(ValueError):
    """A record that cannot be imported; the message says where in the record and why."""


@dataclass
class Converted:
    events: list[dict[str, Any]]
    tools: list[ToolSpec]
    system: str | None = None
    notes: list[str] = field(default_factory=list)


def user_turn(text: str) -> dict[str, Any]:
    return {"class_": "text_observation", "source": "user", "content": text}


def agent_message(text: str, description: str | None = None) -> dict[str, Any]:
    return {"class_": "message_action", "content": text, "description": description}


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def as_text(value: Any) -> str:
    """A result's content: text as is, anything else as compact JSON text."""
    return value if isinstance(value, str) else dumps(value)


class CallLedger:
    """The calls of one record: their ids (given or minted) and which still wait for a result."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.pending: dict[str, str] = {}
        self._minted = 0

    def call(self, function: Any, kwargs: dict[str, Any], where: str, call_id: Any = None,
             description: str | None = None) -> dict[str, Any]:
        if not isinstance(function, str) or not function:
            raise RecordError(f"{where}: a call needs a non-empty function name")
        if call_id is None or call_id == "":
            call_id = self._mint()
        if not isinstance(call_id, str):
            raise RecordError(f"{where}: a call id must be a string, got {call_id!r}")
        if call_id in self.used:
            raise RecordError(f"{where}: tool_call_id {call_id!r} is used twice")
        self.used.add(call_id)
        self.pending[call_id] = function
        return {"class_": "api_action", "function": function, "kwargs": kwargs, "description": description,
                "tool_call_id": call_id}

    def _mint(self) -> str:
        while True:
            self._minted += 1
            if f"call_{self._minted}" not in self.used:
                return f"call_{self._minted}"

    def answer(self, call_id: Any, content: str, where: str) -> dict[str, Any]:
        if not isinstance(call_id, str) or call_id not in self.pending:
            raise RecordError(f"{where}: a tool result answers {call_id!r}, which no earlier, unanswered call made")
        name = self.pending.pop(call_id)
        return {"class_": "text_observation", "source": "environment", "content": content, "tool_call_id": call_id,
                "name": name}

    def answer_next(self, content: str, where: str, name: Any = None) -> dict[str, Any]:
        """Answer the call named `name` if one waits, else the oldest waiting call."""
        if not self.pending:
            raise RecordError(f"{where}: a tool result with no unanswered call before it")
        named = [cid for cid, fn in self.pending.items() if fn == name]
        return self.answer(named[0] if named else next(iter(self.pending)), content, where)

    def close(self) -> None:
        """A new turn began: calls still waiting stay unanswered; later results cannot answer them."""
        self.pending.clear()


# --- parsing pieces --------------------------------------------------------------------------------------------

def _plain(value: Any, where: str) -> Any:
    """A Python literal as JSON values (tuples become lists); sets, bytes and the like are refused."""
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise RecordError(f"{where}: object keys must be strings")
        return {k: _plain(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise RecordError(f"{where}: a {type(value).__name__} has no JSON form")


def parse_payload(text: str, where: str, *, python_repr: bool = False) -> Any:
    """JSON text; with `python_repr`, also a Python literal (`{'a': True}`), read by ast.literal_eval, never eval."""
    try:
        return json.loads(text)
    except RecursionError:
        raise RecordError(f"{where}: nested too deeply to parse") from None
    except ValueError as exc:
        if not python_repr:
            raise RecordError(f"{where}: not JSON ({exc.args[0].split(':')[0]}): {text[:80]!r}") from None
    if len(text) > MAX_LITERAL_CHARS:
        raise RecordError(f"{where}: not JSON, and too long ({len(text):,} chars) to read as a Python literal")
    try:
        return _plain(ast.literal_eval(text.strip()), where)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise RecordError(f"{where}: neither JSON nor a Python literal: {text[:80]!r}") from None


def arguments(value: Any, where: str, *, python_repr: bool = False) -> dict[str, Any]:
    """Call arguments given as an object or as JSON text of one; missing means none."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = parse_payload(value, f"{where} (arguments)", python_repr=python_repr)
    if not isinstance(value, dict):
        raise RecordError(f"{where}: arguments must be a JSON object, got {type(value).__name__}")
    return value


def text_of(content: Any, where: str, *, optional: bool = False) -> str | None:
    """Message content as text: a string, or a list of `{"type": "text", "text"}` parts joined."""
    if content is None and optional:
        return None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise RecordError(f"{where}: a content part of type {kind!r} cannot be imported (text only)")
            texts.append(part["text"])
        return "".join(texts)
    raise RecordError(f"{where}: content must be text, got {type(content).__name__}")


def tools_of(items: Any, where: str, domain: str) -> list[ToolSpec]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise RecordError(f"{where}: must be a list of tools")
    taken: set[str] = set()
    try:
        return [tool_from_function(item, domain=domain, where=f"{where}[{i}]", taken=taken)
                for i, item in enumerate(items)]
    except ToolImportError as exc:
        raise RecordError(str(exc)) from None


def _turns(record: dict[str, Any]) -> list[dict[str, Any]]:
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise RecordError("`conversations` must be a non-empty list of {from, value} turns")
    for i, turn in enumerate(turns):
        if not (isinstance(turn, dict) and isinstance(turn.get("from"), str) and isinstance(turn.get("value"), str)):
            raise RecordError(f"conversations[{i}]: a turn needs string `from` and `value`")
    return turns


# --- OpenAI chat fine-tuning (and the Hugging Face `hf` variant, whose arguments are objects) -------------------

def from_openai(record: dict[str, Any], domain: str) -> Converted:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RecordError("`messages` must be a non-empty list")
    tools = tools_of(record.get("tools") if "tools" in record else record.get("functions"), "tools", domain)
    out, ledger, system, notes = [], CallLedger(), [], []
    for i, msg in enumerate(messages):
        at = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise RecordError(f"{at}: a message must be an object")
        role = msg.get("role")
        if role in ("system", "developer"):
            system.append(text_of(msg.get("content"), at))
            if out:
                notes.append(f"{at}: a {role} message inside the conversation was moved to `system`")
        elif role == "user":
            out.append(user_turn(text_of(msg.get("content"), at)))
        elif role == "assistant":
            out.extend(_assistant(msg, at, ledger))
        elif role == "tool":
            out.append(ledger.answer(msg.get("tool_call_id"), text_of(msg.get("content"), at, optional=True) or "",
                                     at))
        elif role == "function":  # the legacy form: answers the call of that name
            out.append(ledger.answer_next(text_of(msg.get("content"), at, optional=True) or "", at, msg.get("name")))
        else:
            raise RecordError(f"{at}: unknown role {role!r} (system, developer, user, assistant, tool)")
    return Converted(out, tools, "\n\n".join(system) if system else None, notes)


def _assistant(msg: dict[str, Any], at: str, ledger: CallLedger) -> list[dict[str, Any]]:
    text = text_of(msg.get("content"), at, optional=True) or None
    calls = msg.get("tool_calls")
    if calls is None and isinstance(msg.get("function_call"), dict):
        calls = [{"function": msg["function_call"]}]
    if not calls:
        if text is None:
            raise RecordError(f"{at}: an assistant message with neither content nor tool_calls")
        return [agent_message(text)]
    if not isinstance(calls, list):
        raise RecordError(f"{at}: tool_calls must be a list")
    events = []
    for j, call in enumerate(calls):
        where = f"{at}.tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            raise RecordError(f"{where}: a tool call is {{id, type: function, function: {{name, arguments}}}}")
        events.append(ledger.call(fn.get("name"), arguments(fn.get("arguments"), where), where, call.get("id"),
                                  text if j == 0 else None))
    return events


# --- ShareGPT as LLaMA-Factory reads it ------------------------------------------------------------------------

_SHAREGPT_ROLES = {"human": "human", "user": "human", "gpt": "gpt", "assistant": "gpt", "function_call": "call",
                   "observation": "observation", "tool": "observation", "system": "system"}
_THINK = re.compile(r"^\s*<think>\n?(.*?)\n?</think>\s*", re.DOTALL)


def from_sharegpt(record: dict[str, Any], domain: str) -> Converted:
    raw_tools = record.get("tools")
    if isinstance(raw_tools, str):
        raw_tools = parse_payload(raw_tools, "tools") if raw_tools.strip() else None
    tools = tools_of(raw_tools, "tools", domain)
    system = record.get("system") if isinstance(record.get("system"), str) else None
    out, ledger, notes = [], CallLedger(), []
    for i, turn in enumerate(_turns(record)):
        at, value = f"conversations[{i}]", turn["value"]
        role = _SHAREGPT_ROLES.get(turn["from"])
        if role is None:
            raise RecordError(f"{at}: unknown `from` {turn['from']!r} (human, gpt, function_call, observation)")
        if role == "observation":
            out.extend(_observation(value, at, ledger))
            continue
        ledger.close()
        if role == "system":
            system = value if system is None else f"{system}\n\n{value}"
        elif role == "human":
            out.append(user_turn(value))
        elif role == "gpt":
            out.append(agent_message(value))
        else:
            thought = _THINK.match(value)
            payload = parse_payload(value[thought.end():] if thought else value, at)
            for j, item in enumerate(payload if isinstance(payload, list) else [payload]):
                where = f"{at}[{j}]"
                if not isinstance(item, dict):
                    raise RecordError(f"{where}: a function call is {{\"name\", \"arguments\"}}")
                out.append(ledger.call(item.get("name"), arguments(item.get("arguments"), where), where,
                                       description=(thought.group(1) or None) if thought and j == 0 else None))
    return Converted(out, tools, system, notes)


def _observation(value: str, at: str, ledger: CallLedger) -> list[dict[str, Any]]:
    waiting = list(ledger.pending)
    if len(waiting) <= 1:
        return [ledger.answer_next(value, at)]
    results = parse_payload(value, at)
    if not isinstance(results, list) or len(results) != len(waiting):
        raise RecordError(f"{at}: an observation after {len(waiting)} parallel calls must hold a JSON list of "
                          f"{len(waiting)} results, one per call in order")
    return [ledger.answer(cid, as_text(item), f"{at}[{j}]") for j, (cid, item) in enumerate(zip(waiting, results))]


# --- Hermes function calling -----------------------------------------------------------------------------------

_TOOLS = re.compile(r"<tools>(.*?)</tools>", re.DOTALL)
_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_TOOL_RESPONSE = re.compile(r"<tool_response>(.*?)</tool_response>", re.DOTALL)


def from_hermes(record: dict[str, Any], domain: str) -> Converted:
    out, ledger, system, tools = [], CallLedger(), [], []
    for i, turn in enumerate(_turns(record)):
        at, value, role = f"conversations[{i}]", turn["value"], turn["from"]
        if role != "tool":
            ledger.close()
        if role == "system":
            system.append(value)
            for block in _TOOLS.finditer(value):
                if not block.group(1).strip():  # the prose that names the tags: "...within <tools></tools> tags"
                    continue
                listed = parse_payload(block.group(1).strip(), f"{at} <tools>", python_repr=True)
                tools += tools_of(listed if isinstance(listed, list) else [listed], f"{at} <tools>", domain)
        elif role == "human":
            out.append(user_turn(value))
        elif role == "gpt":
            out.extend(_hermes_calls(value, at, ledger))
        elif role == "tool":
            out.extend(_hermes_results(value, at, ledger))
        else:
            raise RecordError(f"{at}: unknown `from` {role!r} (system, human, gpt, tool)")
    if len({t.name for t in tools}) != len(tools):
        raise RecordError("the <tools> lists name one function twice")
    return Converted(out, tools, "\n\n".join(system) if system else None)


def _hermes_calls(value: str, at: str, ledger: CallLedger) -> list[dict[str, Any]]:
    blocks = list(_TOOL_CALL.finditer(value))
    if not blocks:
        if "<tool_call>" in value:
            raise RecordError(f"{at}: a <tool_call> block is never closed")
        return [agent_message(value)]
    text = "\n".join(t for t in (value[:blocks[0].start()].strip(), value[blocks[-1].end():].strip()) if t)
    events = []
    for j, block in enumerate(blocks):
        where = f"{at} <tool_call> {j + 1}"
        call = parse_payload(block.group(1).strip(), where, python_repr=True)
        if not isinstance(call, dict):
            raise RecordError(f"{where}: a tool call is {{\"name\", \"arguments\"}}")
        events.append(ledger.call(call.get("name"), arguments(call.get("arguments"), where, python_repr=True), where,
                                  description=(text or None) if j == 0 else None))
    return events


def _hermes_results(value: str, at: str, ledger: CallLedger) -> list[dict[str, Any]]:
    blocks = [b.group(1).strip() for b in _TOOL_RESPONSE.finditer(value)] or [value.strip()]
    events = []
    for j, block in enumerate(blocks):
        where = f"{at} <tool_response> {j + 1}"
        try:
            payload = parse_payload(block, where, python_repr=True)
        except RecordError:
            payload = block  # a plain-text response
        if isinstance(payload, dict) and "content" in payload:
            events.append(ledger.answer_next(as_text(payload["content"]), where, payload.get("name")))
        else:
            events.append(ledger.answer_next(as_text(payload), where))
    return events


# --- xLAM / APIGen function-calling rows -------------------------------------------------------------------------

XLAM_NOTE = "xlam has no tool results and no final reply: its calls are left unanswered"


def from_xlam(record: dict[str, Any], domain: str) -> Converted:
    query = record.get("query")
    if not isinstance(query, str) or not query:
        raise RecordError("`query` must be a non-empty string")
    listed, answers = (_xlam_list(record, key) for key in ("tools", "answers"))
    taken: set[str] = set()
    try:
        tools = [tool_from_xlam(t, domain=domain, where=f"tools[{i}]", taken=taken) for i, t in enumerate(listed)]
    except ToolImportError as exc:
        raise RecordError(str(exc)) from None
    out, ledger = [user_turn(query)], CallLedger()
    for j, answer in enumerate(answers):
        where = f"answers[{j}]"
        if not isinstance(answer, dict):
            raise RecordError(f"{where}: an answer is {{\"name\", \"arguments\"}}")
        out.append(ledger.call(answer.get("name"), arguments(answer.get("arguments"), where), where))
    return Converted(out, tools, None, [XLAM_NOTE])


def _xlam_list(record: dict[str, Any], key: str) -> list[Any]:
    value = record.get(key)
    if isinstance(value, str):
        value = parse_payload(value, key)
    if not isinstance(value, list):
        raise RecordError(f"`{key}` must be a list (or JSON text of one)")
    return value


CONVERTERS: dict[str, Callable[[dict[str, Any], str], Converted]] = {
    "openai": from_openai, "hf": from_openai, "sharegpt": from_sharegpt, "hermes": from_hermes, "xlam": from_xlam,
}
