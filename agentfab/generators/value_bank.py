"""What accepted rows hold, for negatives that must not give themselves away: the real values of each tool's fields
and calls seen so far (`ValueBank`), and the tokens of accepted text (`tokens`), so that a perturbation can be made
of values and words the accepted data already has."""

from __future__ import annotations

import re
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson

from agentfab.generators.rollouts import Event
from agentfab.worlds.core import canonical_json, is_error

TOKEN = re.compile(r"[A-Za-z0-9]+(?:[_.@:+'-][A-Za-z0-9]+)*")


def tokens(content: list[Event]) -> set[str]:
    """Every word, id and number of a trajectory's text, arguments, reasoning and tool names (case kept)."""
    return _tokens_of(_texts(content))


def _texts(content: list[Event], arguments: dict[int, str] | None = None) -> list[str]:
    """The texts `tokens` reads: contents, reasoning, tool names and arguments (as canonical JSON; `arguments`:
    that JSON of some events' kwargs by index, already written)."""
    texts: list[str] = []
    add = texts.append
    for i, e in enumerate(content):
        text = e.get("content")
        if isinstance(text, str):
            add(text)
        text = e.get("description")
        if isinstance(text, str):
            add(text)
        text = e.get("function")
        if isinstance(text, str):
            add(text)
        kwargs = e.get("kwargs")
        if kwargs:
            written = arguments.get(i) if arguments else None
            texts.append(written if written is not None else kwargs if isinstance(kwargs, str)
                         else canonical_json(kwargs))
    return texts


# where `observe` finds an event's fields in a row's stored event (validators.reading.STORED_FIELDS' order: class_,
# content, function, kwargs, description, tool_call_id, source, ...; tests check it): the texts `_texts` reads
_TEXTS_OF = itemgetter(1, 2, 3, 4)
_CONTENT, _CALL_ID, _SOURCE = 1, 5, 6


def _stored_texts(stored: list[tuple[Any, ...]], read: set[str]) -> set[str] | None:
    """The distinct texts `_texts` reads that are not in `read`, from the events as a row stores them (a call's kwargs
    as their canonical JSON; an empty object's '{}' holds no token), gathered without a Python loop over the fields;
    None for a field that is neither text nor None (no event of an accepted row has one: `_texts` reads them)."""
    try:
        texts = set(chain.from_iterable(map(_TEXTS_OF, stored)))
    except TypeError:  # an unhashable field
        return None
    texts.discard(None)
    texts -= read
    for t in texts:
        if t.__class__ is not str:
            return None
    return texts


def _tokens_of(texts: "list[str] | set[str]") -> set[str]:
    # one scan of all texts: no token spans a newline, so joining on one finds exactly each text's tokens
    return set(TOKEN.findall("\n".join(texts)))


# JSON's punctuation but the colon (a token may hold one), as spaces: `{"a":[1,2]}` cuts into `a`, `:`, `1`, `2`,
# and `"n":7,` and `"n":7}` make the same chunks
_CUT = bytes.maketrans(b'",{}[]()', b"        ")


def _chunks(texts: list[str], known: set[bytes], sentences: set[bytes] | None = None) -> set[bytes]:
    """The texts cut at whitespace and JSON's punctuation, which no token holds, less the chunks `known`: a text's
    tokens are its chunks' tokens (a scan never carries a token across a character that cannot be in one). JSON
    results and arguments cut into field names and values, most of which an earlier row had: only new chunks need
    the token scan. Cut as UTF-8 (a byte below 128 is never part of another character's bytes), which makes fewer
    objects than a cut of the text; ASCII whitespace alone cuts, a token holds no other whitespace either. The
    chunks cut are gathered into a set first (a word recurs within the texts of a cut: each distinct one is then
    looked up in `known` once, and no Python-level call is made per chunk).

    `sentences`: the pieces of the texts between '. ' met already, whose chunks are all in `known`; only the others
    are cut (and added to it). No token holds a '.' before a space, so the pieces' tokens are the texts'; a
    reasoning's sentence about a tool ('I'll call get_flight to get a flight.') recurs in many rows."""
    whole = " ".join(texts).encode("utf-8", "surrogatepass")
    if sentences is not None:
        new = set(whole.split(b". ")).difference(sentences)
        sentences |= new
        whole = b" ".join(new)
    return set(whole.translate(_CUT).split()).difference(known)


def _chunk_tokens(chunks: set[bytes]) -> set[str]:
    """The tokens of `_chunks`' chunks (a scan of them all at once)."""
    return set(TOKEN.findall(b"\n".join(chunks).decode("utf-8", "surrogatepass"))) if chunks else set()


class ValueBank:
    """Values seen in accepted trajectories, per (tool, result field) and (tool, parameter), and whole calls per
    tool: the real values a wrong value or a fabricated result is drawn from.

    `observe` logs each tool's calls (their result texts are parsed when a negative first asks about the tool); a
    list is filled from the log when a negative first asks for it, and brought up to date on each later ask (most
    lists are never asked for). Each list holds what it would hold had every call been read into it as it came: its
    calls in order, parameter before result field, up to `cap`."""

    def __init__(self, cap: int = 64):
        self.cap = cap
        self._vocab: set[str] = set()  # every token of the texts read, but those still `_pending`
        self._read: set[str] = set()  # every distinct text read (results and thoughts repeat)
        # texts read since `vocab` was last asked for, cut into chunks all at once when it is: a negative is made
        # of one accepted row in ten, and one cut of ten rows' texts costs less than ten cuts
        self._pending: list[str] = []
        self._chunks: set[bytes] = set()  # pieces of texts (`_chunks`) whose tokens are in `_vocab` already
        self._sentences: set[bytes] = set()  # the texts' pieces between '. ' whose chunks `_chunks` holds
        self.has_data = False  # some text read has a token (`vocab` is not empty), known without cutting any
        self._unseen: tuple[list[Event], set[str]] | None = None  # `unseen`'s last answer, while `vocab` stands
        self._values: dict[tuple[str, str], list[Any]] = {}
        self._calls: dict[str, list[dict[str, Any]]] = {}
        self._log: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}  # tool -> (kwargs, result) in order
        # tool -> (kwargs, result text) of the calls observed since the tool's log was last read, parsed into `_log`
        # only when a negative asks about the tool (most are never asked about after their last calls; the text is
        # the accepted row's own, which `_read` holds already)
        self._unparsed: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        self._read_up_to: dict[Any, int] = {}  # a list's key ((tool, field), or tool) -> log entries read into it
        # the hashable ones of each list again, as a set: `in` without a scan, by the same equality (2 == 2.0)
        self._hashed: dict[Any, set[Any]] = {}

    @property
    def vocab(self) -> set[str]:
        """Every token of accepted data (`tokens` of every trajectory observed)."""
        if self._pending:
            chunks = _chunks(self._pending, self._chunks, self._sentences)
            self._pending = []
            if chunks:
                self._chunks |= chunks
                self._vocab |= _chunk_tokens(chunks)
        return self._vocab

    def unseen(self, content: list[Event]) -> set[str]:
        """`tokens(content) - vocab`: only the texts the bank has not read are read, and of those only the chunks
        the vocabulary does not cover are scanned (a perturbation's new text is mostly field names, values and
        words of accepted rows); the texts read since the last cut are cut only for a token the vocabulary as it
        stands lacks (most perturbations add none: the cuts come fewer and larger). The answer for the events last
        asked about is kept until the bank reads more: the negatives stage asks again about the one
        `make_negative` chose."""
        last = self._unseen
        if last is not None and last[0] is content:
            return set(last[1])
        new = [t for t in _texts(content) if t not in self._read]
        found = _chunk_tokens(_chunks(new, self._chunks)) - self._vocab if new else set()
        if found and self._pending:
            found -= self.vocab
        self._unseen = (content, found)
        return set(found)

    def observe(self, content: list[Event], arguments: dict[int, str] | None = None,
                stored: list[tuple[Any, ...]] | None = None, results: dict[Any, Any] | None = None) -> None:
        """Learn from one accepted trajectory: its tokens, its successful calls and the fields of their results.
        `arguments`: the canonical JSON of the calls' kwargs by event index, when the checks wrote it already;
        `stored`: the events as the row stores them (`validators.reading.Reading.stored`: each event's fields in the
        row's order, a call's kwargs as that JSON), read with it, which needs no walk of the events' dicts;
        `results`: the content of every event from the environment by its tool_call_id (the last where one id has
        two), when the checks found it already (`Reading.observed`, where every such event is a tool result)."""
        self._unseen = None
        read = self._read
        new: "set[str] | list[str] | None" = (
            _stored_texts(stored, read) if stored is not None and arguments is not None else None)
        if new is None:
            new = [t for t in _texts(content, arguments) if t not in read]
        if new:
            read.update(new)
            self._pending += new
            if not self.has_data:
                self.has_data = any(TOKEN.search(t) for t in new)
        # the calls whose kwargs are an object: the keys of `arguments` are exactly those, when it is given
        calls = arguments if arguments is not None else [
            i for i, e in enumerate(content) if e.get("class_") == "api_action" and isinstance(e.get("kwargs"), dict)]
        if not calls:
            return
        if results is None and stored is not None:
            results = {s[_CALL_ID]: s[_CONTENT] for s in stored if s[_SOURCE] == "environment"}
        elif results is None:
            results = {e.get("tool_call_id"): e.get("content") for e in content if e.get("source") == "environment"}
        unparsed = self._unparsed
        for i in calls:
            e = content[i]
            entry = (e["kwargs"], results.get(e.get("tool_call_id")))
            found = unparsed.get(e["function"])
            if found is None:
                unparsed[e["function"]] = [entry]
            else:
                found.append(entry)

    def _logged(self, tool: str, one: bool = False) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The log of `tool`: its successful calls' (kwargs, result) in the order observed, the texts observed since
        the last ask parsed now (a result that is not an object, or is an error, is no successful call). `one`: parse
        only until the log holds a call (whether the tool has any), the rest later."""
        log = self._log.get(tool)
        if one and log:
            return log
        unparsed = self._unparsed.pop(tool, None)
        if unparsed:
            if log is None:
                log = self._log[tool] = []
            for k, (kwargs, text) in enumerate(unparsed):
                if one and log:
                    self._unparsed[tool] = unparsed[k:]
                    break
                value = parsed(text)
                if isinstance(value, dict) and not is_error(value):
                    log.append((kwargs, value))
        return log if log is not None else []

    def _unread(self, key: Any, tool: str, kept: list[Any] | None) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The log entries of `tool` not yet read into the list under `key` (none once the list is full: a full list
        never changes again, so the results logged since are not parsed for it)."""
        if kept is not None and len(kept) >= self.cap:
            return []
        log = self._logged(tool)
        start = self._read_up_to.get(key, 0)
        if start >= len(log):
            return []
        self._read_up_to[key] = len(log)
        return log[start:]  # type: ignore[return-value]

    def _filled(self, lists: dict[Any, list[Any]], key: Any) -> tuple[list[Any], set[Any]]:
        """The list under `key` in `lists` and the set of its hashable values, each made empty where missing."""
        seen = lists.get(key)
        if seen is None:
            seen = lists[key] = []
        found = self._hashed.get(key)
        if found is None:
            found = self._hashed[key] = set()
        return seen, found

    def kept(self, tool: str, field: str) -> list[Any]:
        """The values kept of a parameter or result field of `tool`, in the order they were met (a parameter's
        before a result field's of the same call; a result field's list or object is not a value)."""
        key = (tool, field)
        seen = self._values.get(key)
        unread = self._unread(key, tool, seen)
        if not unread:
            return seen if seen is not None else []
        seen, found = self._filled(self._values, key)
        cap = self.cap
        for kwargs, value in unread:  # the list, its set and the cap in locals: this loop reads most of the log
            if field in kwargs:
                if len(seen) >= cap:
                    break
                v = kwargs[field]
                if isinstance(v, (list, dict)):
                    if v not in seen:
                        seen.append(v)
                elif v not in found:
                    found.add(v)
                    seen.append(v)
            if field in value:
                v = value[field]
                if not isinstance(v, (list, dict)) and v not in found:
                    if len(seen) >= cap:
                        break
                    found.add(v)
                    seen.append(v)
        return seen

    def values(self, tool: str, field: str, other_than: Any) -> list[Any]:
        return [v for v in self.kept(tool, field) if v != other_than and type(v) is type(other_than)]

    def has_other(self, tool: str, field: str, other_than: Any) -> bool:
        """`bool(values(tool, field, other_than))`, stopping at the first such value (most often the first kept). A
        list only grows, in the order it was met: when what it holds already has such a value, the calls logged since
        it was last brought up to date are left unread (a fabricated result asks this of every field of a result, and
        takes the values of one)."""
        kind = type(other_than)
        held = self._values.get((tool, field))
        if held and any(v != other_than and type(v) is kind for v in held):
            return True
        return any(v != other_than and type(v) is kind for v in self.kept(tool, field))

    def has_calls(self, tool: str) -> bool:
        """`bool(calls(tool))` without filling or copying the list: it holds the first call logged, if any."""
        return self.cap > 0 and bool(self._logged(tool, one=True))

    def calls(self, tool: str) -> list[dict[str, Any]]:
        """The distinct kwargs of `tool`'s calls, in the order met, up to `cap` (kwargs holding a list or an object,
        which no set can hold, are compared by a scan of the list)."""
        seen = self._calls.get(tool)
        unread = self._unread(tool, tool, seen)
        if unread:
            seen, found = self._filled(self._calls, tool)
            cap = self.cap
            for kwargs, _ in unread:
                if len(seen) >= cap:
                    break
                try:
                    hashed = frozenset(kwargs.items())
                except TypeError:  # a list or an object among the values
                    if kwargs not in seen:
                        seen.append(kwargs)
                    continue
                if hashed not in found:
                    found.add(hashed)
                    seen.append(kwargs)
        return list(seen) if seen is not None else []


def parsed(text: str | None) -> Any:
    try:
        return orjson.loads(text or "null")  # every observation of every accepted row: keep it cheap
    except orjson.JSONDecodeError:
        return None
