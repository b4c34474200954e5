"""The template lint: what a person never writes and a template leaves behind.

A request, a user's answer or a reply to the user fails with `rule.template_leak` when it shows an unfilled
placeholder ("{account_id}"), "e.g", a tool's name, a raw snake_case field name ("owner_id"), a field written the
way its name is spelled instead of how it reads ("high c: 30"), or a tool's description pasted as a request.
Reasoning (an action's `description`) may name tools: it is the agent choosing between them, not talking.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping

from agentfab.schemas.codes import Reason
from agentfab.schemas.wording import SNAKE, label
from agentfab.validators.reading import Reading, reading_of
from agentfab.validators.structure import Event, Failure
from agentfab.worlds.core import Tool, canonical_json

_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}|<[a-z_]+>|\$\{|\{\{")
_EG = re.compile(r"\be\.g\b", re.IGNORECASE)


Vocabulary = tuple[frozenset[str], frozenset[str], tuple[str, ...], tuple[str, ...]]
_VOCABULARIES: dict[tuple[int, ...], Vocabulary] = {}  # per offered tool set (tools live as long as the process)
# Offered sets rarely repeat (~1,100 new ones per 5,000 tasks, ~1.3 KB each): a cap of 50,000 let a worker grow by
# ~65 MB over a long build; 8,192 holds more than a shard's sets, so a shard's hits are the same
_VOCABULARIES_MAX = 8_192


# the tools' ids in the order offered -> that set's entry of _VOCABULARIES (cleared with it): a task's offered tools
# come in the order its list names them, and most lists recur, so the set's key is seldom sorted again
_IN_ORDER: dict[tuple[int, ...], Vocabulary] = {}


def _vocabulary(offered: Mapping[str, Tool]) -> Vocabulary:
    ids = tuple(map(id, offered.values()))
    found = _IN_ORDER.get(ids)
    if found is not None:
        return found
    key = tuple(sorted(ids))
    if key not in _VOCABULARIES:
        if len(_VOCABULARIES) >= _VOCABULARIES_MAX:
            _VOCABULARIES.clear()
            _IN_ORDER.clear()
        _VOCABULARIES[key] = _vocabulary_of(offered)
    if len(_IN_ORDER) >= _VOCABULARIES_MAX:
        _IN_ORDER.clear()
    found = _IN_ORDER[ids] = _VOCABULARIES[key]
    return found


_TOOL_WORDS: dict[int, tuple[Tool, Vocabulary]] = {}  # id(tool) -> (tool, its own vocabulary)


def _vocabulary_of(offered: Mapping[str, Tool]) -> Vocabulary:
    """Tool names, raw field names, field names spelled out ("high c") and description openings, of the tools."""
    tools: set[str] = set()
    fields: set[str] = set()
    spelled: set[str] = set()
    described: list[str] = []
    for tool in offered.values():
        own = _tool_words(tool)
        tools |= own[0]
        fields |= own[1]
        spelled.update(own[2])
        described += own[3]
    return frozenset(tools), frozenset(fields), tuple(sorted(spelled)), tuple(described)


def _tool_words(tool: Tool) -> Vocabulary:
    """`_tool_vocabulary(tool)`, made once per tool."""
    found = _TOOL_WORDS.get(id(tool))
    if found is None or found[0] is not tool:
        if len(_TOOL_WORDS) > 50_000:
            _TOOL_WORDS.clear()
        found = _TOOL_WORDS[id(tool)] = (tool, _tool_vocabulary(tool))
    return found[1]


def _tool_vocabulary(tool: Tool) -> Vocabulary:
    """One tool's share of `_vocabulary_of` (its spelled-out names unsorted, possibly repeated)."""
    fields: set[str] = set()
    spelled: list[str] = []
    names = set(tool.spec.parameters.get("properties", {})) | set(tool.spec.returns.get("properties", {}))
    for name in names:
        if "_" in name:
            fields.add(name.lower())
            words = name.replace("_", " ").lower()
            if words != label(name).lower():
                spelled.append(words + ":")
    opening = tool.spec.description.split(". ")[0].rstrip(".").lower()
    return (frozenset({tool.name.lower()} if "_" in tool.name else ()), frozenset(fields), tuple(spelled),
            (opening,) if len(opening.split()) >= 5 else ())


def _spoken(content: list[Event], read: Reading) -> list[tuple[int, str]]:
    """(index, text) of everything said to or by a person: user turns and replies, not tool traffic or thoughts."""
    return [(i, content[i].get("content") or "") for i in read.spoken]


def _values_blob(content: list[Event]) -> str:
    """Every argument and result value as text: a token found there is data (an email, an enum), not a leak."""
    parts = []
    for ev in content:
        if ev.get("class_") == "api_action":
            parts.append(canonical_json(ev.get("kwargs")))
        elif ev.get("class_") == "text_observation" and ev.get("source") == "environment":
            parts.append(ev.get("content") or "")
    return " ".join(parts).lower()


def template_leaks(text: str, vocabulary: Vocabulary, data: str | Callable[[], str]) -> list[str]:
    """What in `text` is template residue (empty when it reads as a person wrote it). `data` may be given as a
    function: it is read only when the text holds a snake_case token.

    Each pattern runs only where the character it cannot match without is there ('{' or '<', 'e.g', '_', ':'):
    the same findings, without scanning clean text five times."""
    tools, fields, spelled, described = vocabulary
    low = text.lower()
    found = ([f"placeholder {m.group(0)!r}" for m in _PLACEHOLDER.finditer(text)]
             if "{" in text or "<" in text else [])
    if "e.g" in low and _EG.search(text):
        found.append("'e.g'")
    if "_" in low:
        for token in SNAKE.findall(low):
            if not isinstance(data, str):
                data = data()
            if token in data:
                continue
            if token in tools:
                found.append(f"tool name {token!r}")
            elif token in fields:
                found.append(f"field name {token!r}")
    if ":" in low:  # every spelled-out field name ends with one
        found += [f"raw field {s[:-1]!r}" for s in spelled if s in low]
    found += [f"tool description {d[:40]!r}" for d in described if d in low]
    return found


def _reads_clean(text: str, offered: Mapping[str, Tool], data: str | Callable[[], str]) -> bool:
    """Does `template_leaks(text, _vocabulary(offered), data)` find nothing? Read against each offered tool's own
    words: every word of the set's vocabulary is one of its tools' (a token leaks when some tool names it, a spelled
    field or description opening is some tool's), so the set's vocabulary, which most records make anew (a shard's
    offered lists seldom recur), is made only for a text that shows residue, to say which.

    A spelled-out field name ("high c:") ends with the only ':' it holds, so it stands in the text exactly where
    one of the runs between the text's colons, before a colon, ends with its words ("high c"): those few runs are
    each asked once about every offered tool's names (one `endswith`), not the whole text once for each name (69%
    of bench records hold a ':', a time or a list, and then ~11 names each)."""
    low = text.lower()
    if ("{" in text or "<" in text) and _PLACEHOLDER.search(text) or "e.g" in low and _EG.search(text):
        return False
    snake = SNAKE.findall(low) if "_" in low else ()
    colons = ":" in low
    ends: list[str] = []
    for tool in offered.values():
        found = _TOOL_PROBES.get(id(tool))
        if found is None or found[0] is not tool:
            found = _tool_probes(tool)
        for probe in found[1]:
            if probe in low:
                return False
        if colons:
            ends += found[2]
            for probe in found[4]:  # a name holding a ':' of its own (none of the built-in worlds')
                if probe in low:
                    return False
        for token in snake:
            if token in found[3] and token not in (data if isinstance(data, str) else data()):
                return False
    if ends:
        ending = tuple(ends)
        for run in low.split(":")[:-1]:
            if run.endswith(ending):
                return False
    return True


Probes = tuple[Tool, tuple[str, ...], tuple[str, ...], frozenset[str], tuple[str, ...]]
_TOOL_PROBES: dict[int, Probes] = {}  # id(tool) -> the tool and its words as `_reads_clean` reads them


def _tool_probes(tool: Tool) -> Probes:
    """(tool, its description opening, its spelled-out field names without their ':', its tool and field names,
    its spelled-out names that hold a ':' before the last): the texts that leak when a text holds one (a spelled
    name followed by a ':'), and the snake_case names that leak as a token."""
    tools, fields, spelled, described = _tool_words(tool)
    if len(_TOOL_PROBES) > 50_000:
        _TOOL_PROBES.clear()
    found = _TOOL_PROBES[id(tool)] = (tool, described, tuple(s[:-1] for s in spelled if ":" not in s[:-1]),
                                      tools | fields, tuple(s for s in spelled if ":" in s[:-1]))
    return found


def check_language(content: list[Event], offered: Mapping[str, Tool], reading: Reading | None = None
                   ) -> list[Failure]:
    """`rule.template_leak` for each user turn or reply that shows template residue. `reading`: the record's."""
    blob: list[str] = []

    def data() -> str:  # built once, and only for a text that needs it
        if not blob:
            blob.append(_values_blob(content))
        return blob[0]

    failures: list[Failure] = []
    spoken = _spoken(content, reading_of(content, reading))
    # whatever a text shows, the texts joined by line breaks show too (no pattern matches a line break, and a word
    # boundary at a text's edge holds beside one): when the join reads clean, so does each text; else each is read
    if _reads_clean("\n".join(text for _, text in spoken), offered, data):
        return failures
    vocabulary = _vocabulary(offered)
    for i, text in spoken:
        leaks = template_leaks(text, vocabulary, data)
        if leaks:
            failures.append((Reason.TEMPLATE_LEAK, f"content[{i}]: {', '.join(leaks)}"))
    return failures
